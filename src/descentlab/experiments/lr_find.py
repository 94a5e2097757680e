"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", §3.3; the
form popularised by fastai's ``lr_find``), over several seeds, with a suggested *range* of learning rates.

The numbers — the schedule, the smoothing, the stop rule and the suggested range — are :mod:`descentlab.lr_range`,
where the rules are written out; its names are re-exported here.

How it runs: each seed is an ordinary training run of the one trainer (:func:`descentlab.train.train`) whose
schedule is the exponential ramp above (:class:`RangeTest`, part of the run's configuration), bounded to
``steps`` updates, with every update's (lr, loss) logged and :class:`LRFinder`, a per-update callback, applying
the stop rule. So a seed draws its initial weights and data order as any run does (after a full pass over the
training split the next epoch's permutation is used), and with a store the experiment goes through the same
runner as ``compare`` and ``sweep``: one run per seed, its updates in the store's ``steps`` table, and running
the same command again resumes (finished seeds are not recomputed). The smoothed curve and the stop step are
recomputed from the stored losses (:func:`smooth`, :func:`stop_step`), which is what the running smoother gave, and
so is the zero-phase curve the suggestion is made from (:func:`zero_phase`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.lr_range import (  # noqa: F401  (re-exported: the test's numbers, by their old names)
    BETA,
    HALF_WIDTH_DECADES,
    RANGE_FACTOR,
    STOP_FACTOR,
    LRFindResult,
    SeedCurve,
    Smoother,
    Suggestion,
    check_range,
    combine,
    curve,
    half_width,
    learning_rates,
    median_curve,
    skip_steps,
    smooth,
    stop_step,
    stored_result,
    suggest,
    zero_phase,
)
from descentlab.optim import external
from descentlab.tasks import Task, get_task
from descentlab.train import Callback, RunConfig, train
from descentlab.train.config import check_batch_size


@dataclass(frozen=True)
class RangeTest:
    """The range test's schedule: ``lr_k = start · (end / start)^(k / (steps − 1))`` (what :func:`learning_rates`
    lists), as a ``step -> lr`` schedule of a training run."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        return self.start * (self.end / self.start) ** (step / (self.steps - 1))


@dataclass(frozen=True)
class LRFindSpec:
    """What the user asked for. ``batch_size`` None: the preset's, else the task's."""

    task: str
    optimizer: str
    seeds: int = 3
    start: float = 1e-7
    end: float = 10.0
    steps: int = 100
    batch_size: int | str | None = None
    preset: str = "torch"
    data_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("data_dir")  # where the data lives does not change the experiment
        return d

    def resolve(self) -> tuple[Task, str, dict[str, Any], int | str, str]:
        """(task, optimizer name, resolved hyperparameters, batch size, init); every input checked."""
        task = get_task(self.task)
        ref, given = external.parse_item(self.optimizer)
        entry = optim.get(ref)
        preset = get_preset(self.preset)
        check_range(self.start, self.end, self.steps)
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise UserError(f"--seeds {self.seeds!r} must be a whole number ≥ 1")
        batch_size = self.batch_size or preset.batch_size or task.default_batch_size
        check_batch_size(batch_size)
        hyper = entry.hyperparameters({**preset.overrides(entry.name), **given, "lr": self.start})
        return task, entry.name, hyper, batch_size, preset.init


class LRFinder(Callback):
    """The stop rule as a per-update callback: ends the run at the first update whose smoothed loss fires it."""

    per_step = True

    def __init__(self, on_step: Callable[[int], None] | None = None) -> None:
        self.smoother, self.on_progress = Smoother(), on_step

    def on_step(self, step: int, lr: float | None, loss: float) -> bool:
        if self.on_progress:
            self.on_progress(step)
        return self.smoother.update(loss)[1]


def configs(spec: LRFindSpec, task: Task, n_train: int) -> list[RunConfig]:
    """One training run per seed: the range-test schedule over enough epochs for ``spec.steps`` updates."""
    _, optimizer, hyper, batch_size, init = spec.resolve()
    per_epoch = 1 if batch_size == "full" else math.ceil(n_train / min(int(batch_size), n_train))
    schedule = RangeTest(spec.start, spec.end, spec.steps)
    return [RunConfig.build(task, optimizer, hyper, epochs=math.ceil(spec.steps / per_epoch), batch_size=batch_size,
                            seed=seed, init=init, schedule=schedule) for seed in range(spec.seeds)]


def run(spec: LRFindSpec, *, splits=None, store=None, env: Mapping[str, Any] | None = None,
        on_step: Callable[[int], None] | None = None) -> tuple[LRFindResult, int | None]:
    """Run the test for every seed; with ``store``, as an ``lr-find`` experiment of the store (one run per seed,
    resumed when the same spec is run again). Returns the result and the experiment id (None without a store)."""
    from descentlab.experiments.runner import open_experiment, train_stored
    from descentlab.store import FINISHED

    task, optimizer, hyper, batch_size, _ = spec.resolve()
    splits = splits if splits is not None else task.load(data_dir=spec.data_dir)
    runs = configs(spec, task, len(splits.y_train))
    options = {"max_steps": spec.steps, "log_steps": True}
    if store is None:
        curves = [curve(c.seed, train(c, task=task, splits=splits, callbacks=[LRFinder(on_step)], **options).steps
                        or [], spec.to_dict()) for c in runs]
        return combine(spec.to_dict(), optimizer, hyper, batch_size, curves), None
    experiment_id, todo, _ = open_experiment(store, "lr-find", spec.to_dict(), runs, env=env)
    for trial in todo:
        train_stored(trial, store=store, experiment_id=experiment_id, splits=splits,
                     callbacks=[LRFinder(on_step)], **options)
    finished = [(r.seed, r.config, store.steps(r.id)) for r in store.runs(experiment_id) if r.status in FINISHED]
    return stored_result(spec.to_dict(), finished), experiment_id
