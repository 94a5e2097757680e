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
so is the zero-phase curve the suggestion is made from (:func:`zero_phase`). The ramp moves ``lr`` alone: a rule's
hyperparameters that follow ``lr`` under a schedule (Muon's ``adamw_lr``, :attr:`Rule.follows_lr
<descentlab.rules.base.Rule>`) keep their value, as in the check's runs and the sweep the command proposes (a
seed's configuration is built at ``lr`` 0, which they do not follow).

Then the check (:func:`descentlab.lr_range.check_plan`): more ordinary runs of the same trainer, each at a constant
rate around the range test's suggestion for ``check_steps`` updates, with every update's loss logged; they belong
to the same experiment (a run with no schedule is a check run), rates are added in rounds while the pick is an end
rate, and a rerun resumes them like the seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.lr_range import (  # noqa: F401  (re-exported: the test's numbers, by their old names)
    BETA,
    CHECK_EXTENSIONS,
    CHECK_STEPS,
    HALF_WIDTH_DECADES,
    RANGE_FACTOR,
    STOP_FACTOR,
    CheckedRate,
    LRFindResult,
    SeedCurve,
    Smoother,
    Suggestion,
    check,
    check_plan,
    check_range,
    check_rates,
    check_score,
    checked_suggestion,
    combine,
    curve,
    half_width,
    is_check_run,
    learning_rates,
    logged_losses,
    median_curve,
    skip_steps,
    smooth,
    stop_step,
    stored_result,
    suggest,
    zero_phase,
)
from descentlab.optim import external
from descentlab.optim.capabilities import rule_of
from descentlab.tasks import Task, get_task
from descentlab.train import Callback, RunConfig
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
    check_steps: int = CHECK_STEPS  # updates of each short run of the check; 0: no check

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
        if (isinstance(self.check_steps, bool) or not isinstance(self.check_steps, int)
                or not (self.check_steps == 0 or self.check_steps >= 4)):
            raise UserError(f"--check-steps {self.check_steps!r} must be 0 (no check) or a whole number ≥ 4")
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


def _per_epoch(batch_size: int | str, n_train: int) -> int:
    return 1 if batch_size == "full" else math.ceil(n_train / min(int(batch_size), n_train))


def configs(spec: LRFindSpec, task: Task, n_train: int) -> list[RunConfig]:
    """One training run per seed: the range-test schedule over enough epochs for ``spec.steps`` updates."""
    _, optimizer, hyper, batch_size, init = spec.resolve()
    schedule = RangeTest(spec.start, spec.end, spec.steps)
    rule = rule_of(optim.get(external.parse_item(spec.optimizer)[0]).cls)
    if rule is not None and rule.follows_lr:
        # The test ramps lr alone, as the check's constant-rate runs and the sweep it proposes vary it: built at
        # lr 0, the hyperparameters that follow lr (Muon's adamw_lr) keep their value (follow_lr), where built at
        # ``start`` they would be scaled by lr / start, up to ×end/start, and the test would find the AdamW half's
        # blow-up. The schedule writes every update's lr, so the lr built with is used by no update.
        hyper = {**hyper, "lr": 0.0}
    return [RunConfig.build(task, optimizer, hyper, epochs=math.ceil(spec.steps / _per_epoch(batch_size, n_train)),
                            batch_size=batch_size, seed=seed, init=init, schedule=schedule)
            for seed in range(spec.seeds)]


def check_configs(spec: LRFindSpec, task: Task, n_train: int, rates: Sequence[float]) -> list[RunConfig]:
    """The check's runs at ``rates`` (:func:`~descentlab.lr_range.check_plan`): per rate and seed, a run at that
    constant rate over enough epochs for ``spec.check_steps`` updates."""
    _, optimizer, hyper, batch_size, init = spec.resolve()
    epochs = math.ceil(spec.check_steps / _per_epoch(batch_size, n_train))
    return [RunConfig.build(task, optimizer, {**hyper, "lr": lr}, epochs=epochs, batch_size=batch_size, seed=seed,
                            init=init) for lr in rates for seed in range(spec.seeds)]


class _Progress(Callback):
    """Reports each update of a check run (it never stops one)."""

    per_step = True

    def __init__(self, on_step: Callable[[int], None] | None) -> None:
        self.on_progress = on_step

    def on_step(self, step: int, lr: float | None, loss: float) -> bool:
        if self.on_progress:
            self.on_progress(step)
        return False


def run(spec: LRFindSpec, *, splits=None, store=None, env: Mapping[str, Any] | None = None,
        on_step: Callable[[int], None] | None = None, on_plan: Callable[[int], None] | None = None
        ) -> tuple[LRFindResult, int | None]:
    """Run the test for every seed, then, unless ``spec.check_steps`` is 0, the check's short runs around its
    suggestion; with ``store``, as an ``lr-find`` experiment of the store (one run per seed and per checked rate
    and seed, resumed when the same spec is run again). Returns the result and the experiment id (None without a
    store). ``on_step`` is called at every update; ``on_plan`` before each round of runs with the most updates it
    trains (the range test's seeds, then each round of the check: how many the check needs is known only as it
    goes)."""
    plan = on_plan or (lambda updates: None)
    from descentlab.experiments.executors import make_executor
    from descentlab.experiments.runner import open_experiment
    from descentlab.store import FINISHED

    task, optimizer, hyper, batch_size, _ = spec.resolve()
    splits = splits if splits is not None else task.load(data_dir=spec.data_dir)
    runs = configs(spec, task, len(splits.y_train))
    # every update logged, none thinned away: the curves and the check's scores read them all, and nothing else
    # (no held-out evaluation after each epoch: on a small dataset every update is an epoch)
    options = {"max_steps": spec.steps, "log_steps": True, "max_logged": None, "held_out": False}
    check_options = {**options, "max_steps": spec.check_steps}
    if store is None:
        # the same rounds, in a store of its own that nobody else sees: one way of running the check, not two
        # copies that drift apart
        from descentlab.store import Store

        with Store(":memory:") as own:
            result, experiment_id = run(spec, splits=splits, store=own, env={} if env is None else env,
                                        on_step=on_step, on_plan=on_plan)
            # Nothing keeps a failed run here for a rerun to retry, and nobody reads the store: a run whose code
            # raised is an error of this call, as it was when this path trained without a store.
            failed = next((r for r in own.runs(experiment_id) if r.status == "failed"), None)
        if failed is not None:
            which = (f"check at lr {failed.config['hyperparameters']['lr']}" if is_check_run(failed.config)
                     else f"range test, seed {failed.seed}")
            raise RuntimeError(f"lr-find's {which} failed: {(failed.summary or {}).get('error', '')}")
        return result, None

    def finished() -> LRFindResult:
        done = [(r.seed, r.config, store.steps(r.id)) for r in store.runs(experiment_id) if r.status in FINISHED]
        return stored_result(spec.to_dict(), done)

    # one run at a time, through the executor's claims: a second lr-find of the same spec on the same store
    # waits for the runs this one holds instead of training them again, and so reads the same finished runs
    executor = make_executor("local", vectorize=False)
    experiment_id, todo, _ = open_experiment(store, "lr-find", spec.to_dict(), runs, env=env)
    plan(len(todo) * spec.steps)
    executor.run(todo, store=store, experiment_id=experiment_id, splits=splits,
                 callbacks=lambda trial: [LRFinder(on_step)], options=options)
    result = finished()
    checked: list[RunConfig] = []
    # a range-test run that failed here is not retried by the check's rounds (with the check's options, it would be
    # stored as a finished range test of check_steps updates): the same command again retries it, as a range test
    tried: set[str] = {t.key for t in todo}
    while result.to_check:
        # the same experiment, now with these check runs too (those already finished are not run again; one that
        # an interruption left unfinished is)
        checked += check_configs(spec, task, len(splits.y_train), result.to_check)
        experiment_id, todo, _ = open_experiment(store, "lr-find", spec.to_dict(), runs + checked, env=env)
        todo = [t for t in todo if t.key not in tried]  # a run that failed in this command is not tried again
        if not todo:
            # Nothing left to run here, yet the check was unfinished when last read: another lr-find of this spec
            # may have finished those runs since (read again, and go on from there), or they failed in this
            # command (then they stay unchecked, rather than be retried for ever).
            fresh = finished()
            if fresh.to_check == result.to_check:
                break
            result = fresh
            continue
        tried.update(t.key for t in todo)
        plan(len(todo) * spec.check_steps)
        executor.run(todo, store=store, experiment_id=experiment_id, splits=splits,
                     callbacks=lambda trial: [_Progress(on_step)], options=check_options)
        result = finished()
    return result, experiment_id
