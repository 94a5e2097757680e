"""The numbers of the learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks",
§3.3; the form popularised by fastai's ``lr_find``), over several seeds, with a suggested *range* of learning rates.

Plain arithmetic on loss curves: the experiment that runs the test (:mod:`descentlab.experiments.lr_find`) uses
the stop rule while it trains, and both it and the report (:mod:`descentlab.report.lr_find_report`) rebuild the
result from the stored losses with :func:`stored_result`.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from descentlab.errors import UserError
from descentlab.jsonable import to_json_data

BETA = 0.98  # EMA factor of the smoothed loss (fastai's default)
STOP_FACTOR = 4.0  # stop once the smoothed loss exceeds this many times its best


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
    spec: Mapping[str, Any]  # the experiment's stored spec (task, start, end, steps, preset, …)
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
            "spec": dict(self.spec), "optimizer": self.optimizer, "hyperparameters": self.hyperparameters,
            "batch_size": self.batch_size, "suggestion": asdict(self.suggestion),
            "seeds": [{"seed": c.seed, "stop_step": c.stop_step, "suggestion": asdict(c.suggestion),
                       "lrs": c.lrs, "losses": c.losses, "smoothed": c.smoothed} for c in self.curves],
            "median": {"lrs": self.lrs, "smoothed": self.median},
        })


def combine(spec: Mapping[str, Any], optimizer: str, hyper: dict[str, Any], batch_size: int | str,
            curves: Sequence[SeedCurve]) -> LRFindResult:
    """The result of the seeds' ``curves`` under ``spec`` (a dict with ``start``, ``end`` and ``steps``)."""
    steps = spec["steps"]
    lrs = learning_rates(spec["start"], spec["end"], steps)
    # a seed's stop step is above 4× its best: it counts in the median as blown up (+∞), not as its value
    med = median_curve([c.smoothed[: c.usable] for c in curves], steps)
    return LRFindResult(dict(spec), optimizer, dict(hyper), batch_size, lrs, list(curves), med.tolist(),
                        suggest(lrs, med, skip_steps(steps)))


def curve(seed: int, steps: Sequence[Mapping[str, Any]], length: int) -> SeedCurve:
    """A seed's curve from its logged updates (``{"step", "lr", "loss"}``, in order)."""
    losses = [float(s["loss"]) if s["loss"] is not None else math.nan for s in steps]
    smoothed = smooth(losses)
    return SeedCurve(seed, [s["lr"] for s in steps], losses, smoothed, stop_step(smoothed), length)


def stored_result(spec: Mapping[str, Any], runs: Sequence[tuple[int, Mapping[str, Any], Sequence[Mapping[str, Any]]]]
                  ) -> LRFindResult:
    """The result of a stored test from its spec and its finished runs as ``(seed, config, logged updates)``: the
    smoothed curves and stops are recomputed from the stored losses, which is what the running smoother gave."""
    runs = sorted(runs, key=lambda r: r[0])
    curves = [curve(seed, steps, spec["steps"]) for seed, _, steps in runs]
    config = runs[0][1] if runs else {}
    return combine(spec, config.get("optimizer", spec.get("optimizer")), config.get("hyperparameters", {}),
                   config.get("batch_size", spec.get("batch_size")), curves)
