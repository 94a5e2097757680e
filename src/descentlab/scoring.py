"""The benchmark's arithmetic: selection on validation, time to target across seeds, performance profiles, their
score, confidence intervals and pairwise verdicts — plain numbers in, plain numbers out.

Shared by the experiment that builds a benchmark's trials (:mod:`descentlab.experiments.benchmark`, which selects
the configuration each budget re-runs) and the report that reads it back (:mod:`descentlab.report.benchmark`),
neither of which imports the other (the way :mod:`descentlab.lr_range` serves ``lr-find``). The protocol is
written out in ``docs/benchmark.md``; the conventions:

- **Selection** (:func:`select`): the trial with the best finite validation number (highest accuracy, or lowest
  loss for a task whose metric is the loss) among the first ``budget`` trials; a trial that diverged or failed
  has no number and is never selected; ties go to the earlier trial. Budgets are nested prefixes of one search
  sequence, so a larger budget never selects a worse validation number than a smaller one.
- **Time to target of an optimizer on a task** (:func:`median_time`): the median over its evaluation seeds of
  the updates until the validation metric first reached the task's target, a seed that never reached it counting
  as ``inf`` (so more than half the seeds must reach it for a finite median).
- **Performance ratio** (:func:`ratios`): ``r = t / min over optimizers of t`` on each task; ``inf`` when the
  optimizer never reached the target there (also when no optimizer did).
- **Performance profile** (:func:`profile`): ``ρ(τ) = |{tasks : r ≤ τ}| / |tasks|``, AlgoPerf's definition
  (Dahl et al. 2023, §4.5).
- **Score** (:func:`profile_score`): AlgoPerf's ``B = 1/(r_max − 1) ∫₁^{r_max} ρ(τ) dτ`` with ``r_max`` = 4. ρ is
  a step function, so the integral is exact: each task adds ``max(0, r_max − r) / (r_max − 1) / |tasks|``. A
  score of 1 means the fastest on every task; 0 means never within ``r_max`` × the fastest.
- **Confidence intervals** (:func:`t_interval`): Student's t at 95 %, ``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n`` over the
  seeds' finite values (none with fewer than two).
- **Pairwise comparison** (:func:`welch`): Welch's t interval of the difference of two means (Welch–Satterthwaite
  degrees of freedom), at 95 %, without a multiple-comparison correction. Two optimizers are *distinguishable*
  when that interval excludes 0. :func:`leaders` names the best mean and every optimizer that cannot be told
  apart from it; a single winner is declared only when that set has one member.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

R_MAX = 4.0  # AlgoPerf's upper limit of τ for the score
LEVEL = 0.95


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def select(values: Sequence[float | None], budget: int | None = None, *, lower_is_better: bool = False
           ) -> int | None:
    """The index of the best finite value among the first ``budget`` (all when None); ties go to the earlier
    index; None when none is finite."""
    best: int | None = None
    for i, value in enumerate(values[:budget] if budget is not None else values):
        if value is None or not math.isfinite(value):
            continue
        if best is None or (value < values[best] if lower_is_better else value > values[best]):
            best = i
    return best


def median_time(times: Sequence[float | None]) -> float:
    """The median of the seeds' times to target, ``None`` (never reached) counting as ``inf``; ``inf`` for none."""
    if not times:
        return math.inf
    return float(statistics.median([math.inf if t is None else float(t) for t in times]))


def ratios(times: Mapping[str, float]) -> dict[str, float]:
    """Per optimizer, its time over the best optimizer's time on one task (``inf`` for a time of ``inf``)."""
    finite = [t for t in times.values() if math.isfinite(t)]
    best = min(finite) if finite else math.inf
    return {name: (t / best if math.isfinite(t) and best > 0 else 1.0 if t == best == 0 else math.inf)
            for name, t in times.items()}


def profile(task_ratios: Mapping[str, Mapping[str, float]], taus: Sequence[float]) -> dict[str, list[float]]:
    """ρ(τ) per optimizer at each τ of ``taus``: the fraction of tasks on which its ratio is ≤ τ."""
    names = list(dict.fromkeys(n for r in task_ratios.values() for n in r))
    n = len(task_ratios)
    return {name: [sum(r.get(name, math.inf) <= tau for r in task_ratios.values()) / n if n else 0.0 for tau in taus]
            for name in names}


def profile_score(task_ratios: Mapping[str, Mapping[str, float]], r_max: float = R_MAX) -> dict[str, float]:
    """AlgoPerf's score ``1/(r_max − 1) ∫₁^{r_max} ρ(τ) dτ`` per optimizer, computed exactly (see the module)."""
    names = list(dict.fromkeys(n for r in task_ratios.values() for n in r))
    n = len(task_ratios)
    return {name: sum(max(0.0, r_max - r.get(name, math.inf)) for r in task_ratios.values()) / (r_max - 1) / n
            if n else 0.0 for name in names}


def _t_quantile(df: float, level: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval (``low``/``high`` NaN when it cannot be computed), over ``n`` values."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def format(self, fmt: str = ".4g", scale: float = 1.0, unit: str = "") -> str:
        """``"91.2 ± 0.4 %"`` (the ± is the interval's half width), ``"91.2 %"`` for one value, ``"–"`` for none."""
        if self.n == 0:
            return "–"
        text = format(self.mean * scale, fmt)
        if math.isfinite(self.half_width):
            text += " ± " + format(self.half_width * scale, fmt)
        return text + (f" {unit}" if unit else "")


def t_interval(values: Sequence[float | None], level: float = LEVEL) -> Interval:
    """Student's t interval of the mean of the finite ``values`` (see the module docstring)."""
    xs = _finite(values)
    if not xs:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return Interval(mean, math.nan, math.nan, 1)
    half = _t_quantile(len(xs) - 1, level) * statistics.stdev(xs) / math.sqrt(len(xs))
    return Interval(mean, mean - half, mean + half, len(xs))


@dataclass(frozen=True)
class Difference:
    """``mean(a) − mean(b)`` and Welch's interval; ``distinguishable`` when the interval excludes 0 (None: too few
    values to tell)."""

    diff: float
    low: float
    high: float

    @property
    def distinguishable(self) -> bool | None:
        if math.isnan(self.low):
            return None
        return self.low > 0 or self.high < 0


def welch(a: Sequence[float | None], b: Sequence[float | None], level: float = LEVEL) -> Difference:
    """Welch's t interval of ``mean(a) − mean(b)`` over the finite values (NaN bounds with fewer than two each).
    Two samples without spread have an interval of width 0: distinguishable exactly when their means differ."""
    xa, xb = _finite(a), _finite(b)
    if not xa or not xb:
        return Difference(math.nan, math.nan, math.nan)
    diff = statistics.fmean(xa) - statistics.fmean(xb)
    if len(xa) < 2 or len(xb) < 2:
        return Difference(diff, math.nan, math.nan)
    va, vb = statistics.variance(xa) / len(xa), statistics.variance(xb) / len(xb)
    se2 = va + vb
    if se2 == 0:
        return Difference(diff, diff, diff)
    df = se2 ** 2 / ((va ** 2 / (len(xa) - 1) if va else 0.0) + (vb ** 2 / (len(xb) - 1) if vb else 0.0))
    half = _t_quantile(df, level) * math.sqrt(se2)
    return Difference(diff, diff - half, diff + half)


def leaders(samples: Mapping[str, Sequence[float | None]], *, lower_is_better: bool = False) -> list[str]:
    """The optimizer with the best mean, then every other that :func:`welch` cannot tell apart from it (in the
    order of ``samples``); empty when no optimizer has a finite value."""
    means = {name: statistics.fmean(xs) for name, values in samples.items() if (xs := _finite(values))}
    if not means:
        return []
    best = (min if lower_is_better else max)(means, key=lambda n: means[n])
    return [best] + [name for name in means
                     if name != best and not welch(samples[best], samples[name]).distinguishable]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def selection_value(status: str, summary: Mapping[str, Any] | None, metric: str) -> float | None:
    """The number a tuning trial is selected by: its final validation accuracy (its final validation loss for a
    task whose metric is the loss) when it completed; None when it diverged, failed or is not finished."""
    if status != "completed" or not isinstance(summary, Mapping) or not isinstance(summary.get("final"), Mapping):
        return None
    return _number(summary["final"].get("val_loss" if metric == "loss" else "val_acc"))


def to_target(summary: Mapping[str, Any] | None, unit: str = "steps") -> float | None:
    """A finished run's updates (``unit="steps"``) or training seconds (``"seconds"``) until the validation metric
    first reached the task's target, as the trainer recorded it (:class:`descentlab.train.core.RunTracker`);
    None when it never did."""
    reached = summary.get("time_to_target") if isinstance(summary, Mapping) else None
    return _number(reached.get(unit)) if isinstance(reached, Mapping) else None
