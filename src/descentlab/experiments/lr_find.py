"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", §3.3; the
form popularised by fastai's ``lr_find``), over several seeds, with a suggested *range* of learning rates.

From a fresh model, train for up to ``steps`` mini-batches with the learning rate raised exponentially,

    lr_k = start · (end / start)^(k / (steps − 1)),   k = 0 … steps − 1,

written into every parameter group's ``"lr"`` before update ``k`` (the optimizer's own math is untouched). The
loss recorded at step ``k`` is that of batch ``k`` *before* update ``k`` (as fastai: the forward pass of the
iteration whose lr is lr_k), so it reflects the rates lr_0 … lr_{k−1}.

Smoothing (as fastai): an exponential moving average with bias correction,
``a_k = β·a_{k−1} + (1 − β)·loss_k`` (``a_{−1} = 0``), ``smoothed_k = a_k / (1 − β^(k+1))``, β = 0.98.

Stop rule: at the first step ``k ≥ 1`` whose smoothed loss exceeds ``4 × min(smoothed_0 … smoothed_{k−1})``, or
at the first non-finite smoothed loss; that step is recorded, no update is made with it. (Losses are assumed
positive, as cross-entropy is: "4 × the best" means nothing for a loss that can go negative.)

Suggested range (a single point is known to be unstable, so a range):

- the *median curve* is, at each step, the median over seeds of the smoothed loss, a seed that has stopped
  counting as +∞ (it blew up) — the curve ends where the median itself is no longer finite;
- ``i_min`` is the step of its minimum; ``lower`` = the lr of steepest descent on the way there, the most
  negative d smoothed / d ln lr (``numpy.gradient``, central differences) over steps ``skip … i_min``, where
  ``skip = steps // 10`` (as fastai trims the first tenth: there the bias-corrected average holds only a few
  batches, and its batch-to-batch noise would otherwise pass for the steepest descent; when ``i_min ≤ skip``
  the search starts at step 0);
- ``upper`` = lr_at_min / 10. If that is ≤ ``lower``, the range is ``lower … lr_at_min`` instead, and the
  suggestion says so in its ``note``.

The same rule on each seed's own curve (up to its stop) shows how much the suggestion varies across seeds.

How it runs: each seed is an ordinary training run of the one trainer (:func:`descentlab.train.train`) whose
schedule is the exponential ramp above (:class:`RangeTest`, part of the run's configuration), bounded to
``steps`` updates, with every update's (lr, loss) logged and :class:`LRFinder`, a per-update callback, applying
the stop rule. So a seed draws its initial weights and data order as any run does (after a full pass over the
training split the next epoch's permutation is used), and with a store the experiment goes through the same
runner as ``compare`` and ``sweep``: one run per seed, its updates in the store's ``steps`` table, and running
the same command again resumes (finished seeds are not recomputed). The smoothed curve and the stop step are
recomputed from the stored losses (:func:`smooth`, :func:`stop_step`), which is what the running smoother gave.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.jsonable import to_json_data
from descentlab.tasks import Task, get_task
from descentlab.train import Callback, RunConfig, train
from descentlab.train.config import check_batch_size

BETA = 0.98  # EMA factor of the smoothed loss (fastai's default)
STOP_FACTOR = 4.0  # stop once the smoothed loss exceeds this many times its best


# -- pure pieces ------------------------------------------------------------------------------------------------
def learning_rates(start: float, end: float, steps: int) -> list[float]:
    """``steps`` rates ``start · (end/start)^(k/(steps−1))``: the first is ``start``, the last ``end``."""
    check_range(start, end, steps)
    ratio = end / start
    return [start * ratio ** (k / (steps - 1)) for k in range(steps)]


def check_range(start: float, end: float, steps: int) -> None:
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start > 0):
        raise UserError(f"--start {start!r} must be a finite number > 0")
    if not (isinstance(end, (int, float)) and math.isfinite(end)):
        raise UserError(f"--end {end!r} must be a finite number")
    if start >= end:
        raise UserError(f"--start {start:g} must be < --end {end:g}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise UserError(f"--steps {steps!r} must be a whole number ≥ 2")


@dataclass(frozen=True)
class RangeTest:
    """The range test's schedule: ``lr_k = start · (end / start)^(k / (steps − 1))`` (what :func:`learning_rates`
    lists), as a ``step -> lr`` schedule of a training run."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        return self.start * (self.end / self.start) ** (step / (self.steps - 1))


@dataclass
class Smoother:
    """Running bias-corrected EMA and the stop test, one loss at a time (what the training loop uses)."""

    beta: float = BETA
    factor: float = STOP_FACTOR
    best: float = field(default=math.inf, init=False)  # the lowest finite smoothed loss so far
    _avg: float = field(default=0.0, init=False)
    _count: int = field(default=0, init=False)

    def update(self, loss: float) -> tuple[float, bool]:
        """(smoothed loss, whether to stop here) after one more raw loss."""
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        self._count += 1
        smoothed = self._avg / (1 - self.beta ** self._count)
        stop = not math.isfinite(smoothed) or (self._count > 1 and smoothed > self.factor * self.best)
        self.best = min(self.best, smoothed) if math.isfinite(smoothed) else self.best
        return smoothed, stop


def smooth(losses: Sequence[float], beta: float = BETA) -> list[float]:
    """The bias-corrected EMA of a whole sequence of losses."""
    s = Smoother(beta)
    return [s.update(float(x))[0] for x in losses]


def stop_step(smoothed: Sequence[float], factor: float = STOP_FACTOR) -> int | None:
    """The step at which the stop rule fires on a smoothed curve, or None if it never does."""
    best = math.inf
    for k, v in enumerate(smoothed):
        if not math.isfinite(v) or (k > 0 and v > factor * best):
            return k
        best = min(best, v)
    return None


@dataclass(frozen=True)
class Suggestion:
    """A range ``lower … upper`` from a curve, and the two points it is made of (see the module docstring)."""

    lower: float | None
    upper: float | None
    steepest_lr: float | None
    min_lr: float | None
    min_loss: float | None
    note: str = ""


def suggest(lrs: Sequence[float], smoothed: Sequence[float], skip: int = 0) -> Suggestion:
    """The rule of the module docstring on the finite prefix of ``smoothed``; the steepest descent is looked for
    from step ``skip`` on (from 0 when the minimum is not past ``skip``)."""
    values = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(values)
    n = int(np.argmin(finite)) if not finite.all() else len(values)
    if n < 2:
        return Suggestion(None, None, None, None, None, "fewer than 2 finite points: no suggestion")
    lr, values = np.asarray(lrs[:n], dtype=float), values[:n]
    i_min = int(np.argmin(values))
    slope = np.gradient(values, np.log(lr))
    first = skip if skip < i_min else 0
    i_steep = first + int(np.argmin(slope[first: i_min + 1]))
    lower, lr_min = float(lr[i_steep]), float(lr[i_min])
    if i_min == 0:
        return Suggestion(lower, lr_min, lower, lr_min, float(values[0]),
                          "the loss never fell below its first value: try a smaller --start")
    upper, note = lr_min / 10, ""
    if upper <= lower:
        upper, note = lr_min, f"lr_at_min/10 = {lr_min / 10:.3g} is below the steepest lr: range is steepest … min"
    return Suggestion(lower, upper, lower, lr_min, float(values[i_min]), note)


def skip_steps(steps: int) -> int:
    """Steps at the start of the schedule left out of the search for the steepest descent: the first tenth."""
    return steps // 10


def median_curve(curves: Sequence[Sequence[float]], steps: int) -> np.ndarray:
    """Per step, the median over seeds of the smoothed loss; a seed past its stop (or with a non-finite value)
    counts as +∞, and from the first step where the median is not finite on, the curve is NaN."""
    table = np.full((len(curves), steps), np.inf)
    for i, c in enumerate(curves):
        values = np.asarray(c, dtype=float)
        table[i, : len(values)] = np.where(np.isfinite(values), values, np.inf)
    med = np.median(table, axis=0)
    bad = ~np.isfinite(med)
    if bad.any():
        med[int(np.argmax(bad)):] = np.nan
    return med


# -- the experiment ---------------------------------------------------------------------------------------------
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
        entry = optim.get(self.optimizer)
        preset = get_preset(self.preset)
        check_range(self.start, self.end, self.steps)
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise UserError(f"--seeds {self.seeds!r} must be a whole number ≥ 1")
        batch_size = self.batch_size or preset.batch_size or task.default_batch_size
        check_batch_size(batch_size)
        hyper = entry.hyperparameters({**preset.overrides(entry.name), "lr": self.start})
        return task, entry.name, hyper, batch_size, preset.init


@dataclass(frozen=True)
class SeedCurve:
    """One seed's test: per recorded step its lr, raw and smoothed loss; where (and why) it stopped."""

    seed: int
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_step: int | None  # the step at which the stop rule fired; None: ran all steps
    steps: int  # the length of the schedule (``len(lrs)`` unless it stopped)

    @property
    def usable(self) -> int:
        """How many steps count for the suggestion and the median: those before the stop."""
        return len(self.smoothed) if self.stop_step is None else self.stop_step

    @property
    def suggestion(self) -> Suggestion:
        return suggest(self.lrs[: self.usable], self.smoothed[: self.usable], skip_steps(self.steps))

    def epochs(self) -> list[dict[str, Any]]:
        """The stored form: one entry per recorded step (stored with ``first_epoch=0``, so epoch = step)."""
        return [{"step": k, "lr": lr, "loss": loss, "smoothed_loss": s}
                for k, (lr, loss, s) in enumerate(zip(self.lrs, self.losses, self.smoothed))]


@dataclass(frozen=True)
class LRFindResult:
    spec: LRFindSpec
    optimizer: str
    hyperparameters: dict[str, Any]
    batch_size: int | str
    lrs: list[float]  # the whole schedule
    curves: list[SeedCurve]
    median: list[float]  # per step; NaN where the median is not finite
    suggestion: Suggestion

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers as None)."""
        return to_json_data({
            "spec": self.spec.to_dict(), "optimizer": self.optimizer, "hyperparameters": self.hyperparameters,
            "batch_size": self.batch_size, "suggestion": asdict(self.suggestion),
            "seeds": [{"seed": c.seed, "stop_step": c.stop_step, "suggestion": asdict(c.suggestion),
                       "lrs": c.lrs, "losses": c.losses, "smoothed": c.smoothed} for c in self.curves],
            "median": {"lrs": self.lrs, "smoothed": self.median},
        })


def combine(spec: LRFindSpec, optimizer: str, hyper: dict[str, Any], batch_size: int | str,
            curves: Sequence[SeedCurve]) -> LRFindResult:
    lrs = learning_rates(spec.start, spec.end, spec.steps)
    # a seed's stop step is above 4× its best: it counts in the median as blown up (+∞), not as its value
    med = median_curve([c.smoothed[: c.usable] for c in curves], spec.steps)
    return LRFindResult(spec, optimizer, dict(hyper), batch_size, lrs, list(curves), med.tolist(),
                        suggest(lrs, med, skip_steps(spec.steps)))


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


def curve(seed: int, steps: Sequence[Mapping[str, Any]], length: int) -> SeedCurve:
    """A seed's curve from its logged updates (``{"step", "lr", "loss"}``, in order)."""
    losses = [float(s["loss"]) if s["loss"] is not None else math.nan for s in steps]
    smoothed = smooth(losses)
    return SeedCurve(seed, [s["lr"] for s in steps], losses, smoothed, stop_step(smoothed), length)


def run(spec: LRFindSpec, *, splits=None, store=None, env: Mapping[str, Any] | None = None,
        on_step: Callable[[int], None] | None = None) -> tuple[LRFindResult, int | None]:
    """Run the test for every seed; with ``store``, as an ``lr-find`` experiment of the store (one run per seed,
    resumed when the same spec is run again). Returns the result and the experiment id (None without a store)."""
    from descentlab.experiments.runner import open_experiment, train_stored

    task, optimizer, hyper, batch_size, _ = spec.resolve()
    splits = splits if splits is not None else task.load(data_dir=spec.data_dir)
    runs = configs(spec, task, len(splits.y_train))
    options = {"max_steps": spec.steps, "log_steps": True}
    if store is None:
        curves = [curve(c.seed, train(c, task=task, splits=splits, callbacks=[LRFinder(on_step)], **options).steps
                        or [], spec.steps) for c in runs]
        return combine(spec, optimizer, hyper, batch_size, curves), None
    experiment_id, todo, _ = open_experiment(store, "lr-find", spec.to_dict(), runs, env=env)
    for trial in todo:
        train_stored(trial, store=store, experiment_id=experiment_id, splits=splits,
                     callbacks=[LRFinder(on_step)], **options)
    return load(store, experiment_id), experiment_id


def load(store: Any, experiment_id: int | str) -> LRFindResult:
    """Rebuild the result of a stored ``lr-find`` experiment (the report's way in)."""
    experiment = store.experiment(experiment_id)
    if experiment.kind != "lr-find":
        raise UserError(f"experiment {experiment.id} is a {experiment.kind}, not an lr-find")
    spec = LRFindSpec(**experiment.spec)
    runs = sorted((r for r in store.runs(experiment.id) if r.status in ("completed", "diverged")),
                  key=lambda r: r.seed)
    curves = [curve(r.seed, store.steps(r.id), spec.steps) for r in runs]
    config = runs[0].config if runs else {}
    return combine(spec, config.get("optimizer", spec.optimizer), config.get("hyperparameters", {}),
                   config.get("batch_size", spec.batch_size), curves)
