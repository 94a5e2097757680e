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

Two smoothings, for two jobs:

- *Online* (for the stop rule, as fastai): an exponential moving average with bias correction,
  ``a_k = β·a_{k−1} + (1 − β)·loss_k`` (``a_{−1} = 0``), ``ema_k = a_k / (1 − β^(k+1))``, β = 0.98. It only
  looks back, as a rule applied while training must; the price is a lag of about β / (1 − β) ≈ 49 steps on a
  steady trend, which at 12 steps a decade of lr puts its minimum half a decade or more to the right of the raw
  loss's (digits-mlp / adam: 0.42 against 0.08–0.12), and its steepest descent as far.
- *Zero-phase* (for the suggestion, the median curve and the figure): the centred moving average
  ``z_k = mean(loss_{k−h} … loss_{k+h})`` with ``h = min(H, k, n − 1 − k)`` over the ``n`` steps before the stop,
  where ``H`` = :data:`HALF_WIDTH_DECADES` of a decade of lr in steps (:func:`half_width`, at least 1). Every
  average is centred on its own step — the window narrows symmetrically near the ends rather than lean to one
  side — so a trend is not shifted, only its noise averaged; what the curve shows at lr_k is the loss around lr_k.

Stop rule: at the first step ``k ≥ 1`` whose online-smoothed loss exceeds ``4 × min(ema_0 … ema_{k−1})``, or
at the first non-finite smoothed loss; that step is recorded, no update is made with it. (Losses are assumed
positive, as cross-entropy is: "4 × the best" means nothing for a loss that can go negative.) Its lag lets a test
run further into the blow-up (digits-mlp / adam: two of three seeds run all 100 steps through losses of 10 and
back); the suggestion uses only the steps before a stop, and what comes after the minimum only bounds it.

Suggestion, in two stages:

1. *The range test's suggestion* (``result.range_test``):

   - the *median curve* is, at each step, the median over seeds of the zero-phase curve, a seed that has stopped
     counting as +∞ (it blew up) — the curve ends where the median itself is no longer finite;
   - ``i_min`` is the step of its minimum and ``lr_min`` its learning rate;
   - the steepest descent is the most negative d z / d ln lr (``numpy.gradient``, central differences) over steps
     ``skip … i_min``, where ``skip = steps // 10`` (as fastai trims the first tenth, where the loss has barely
     moved and batch-to-batch noise would pass for the steepest descent; from step 0 when ``i_min ≤ skip``) — the
     rate at which a few updates lower the loss fastest; its range ``lr / 3 … lr``;
   - a curve whose minimum is its first point says so in the ``note`` (the loss never fell: start lower).

2. *The check* (unless ``check_steps`` is 0): short runs at constant rates. A ramp of 12 updates a decade does not
   show what a rate does over hundreds of updates (the likely reasons: heavy-ball momentum's step builds over
   ~1/(1 − μ) updates, Adagrad's shrinks as its sums grow), and the steepest descent alone was 4.3–4.5× too high
   for momentum and 0.15–0.26× too low for Adagrad against a sweep (below). So from a fresh model, each seed trains
   ``check_steps`` updates at each of the rates ``anchor · 10^(j/4)``, ``j = −3 … 3`` (:func:`check_rates`;
   anchor = the steepest descent); a run's score is its mean training loss over its last quarter
   (:func:`check_score`; +∞ if it diverged), a rate's score the mean over seeds, averaged with the rates one step
   either side (an end rate stands in for its missing neighbour). The suggested lr is the rate with the lowest
   averaged score (ties: the lower rate); when that is an end rate, three more rates are run beyond it, at most
   twice a side (:func:`check_plan`; when every rate diverged, three below, as often). The suggested range is
   ``lr / 3 … lr``: a short run still favours higher rates than a long one (the "short-horizon bias" of Wu et al.
   2018, "Understanding Short-Horizon Bias in Stochastic Meta-Optimization"), so the range reaches down from the
   pick, not up.

   The check costs ``7 × seeds × check_steps`` updates (8 400 with the defaults, 28× the range test's 300; 13
   rates at most), made by the same trainer and stored in the same experiment.

Why this rule, and how far it goes (``benchmarks/lr_find_vs_sweep.py``; BENCHMARKS.md, "lr-find against a
sweep"): against the best rate of a sweep (≈ 1 100–1 200 updates a run, 8 seeds, the best read off the seed means
averaged over ±¼ decade) on 4 tasks, the range test's steepest descent alone was within a factor of 3 of the best
in 17 of 24 cells of sgd, momentum, adam, nesterov, rmsprop and adagrad (misses: momentum family high, Adagrad
low, RMSprop on the CNN low), its range below the collapse in all 24. The check was designed on those 24 cells
(it passes all 24) and then measured on 16 cells held out until its rule was fixed (nadam, adamax,
rmsprop-centered and heavy-ball momentum 0.95 on the same 4 tasks): BENCHMARKS.md gives that score. Earlier
measurements of the range test alone: on 12 of those cells (4 seeds) ``lr_min / 3``, ``lr_min / 10`` (fastai's
older rule), the middle of the range (steepest / √3) and fastai's ``valley`` were within 3× in 10, 4, 11 and 2 of
12 against the steepest descent's 11; no single factor on the suggestion fits all cells. Defaults of steps ∈
{100 … 500} × seeds ∈ {3, 5} were measured too (BENCHMARKS.md, "lr-find's defaults against the recorded sweeps"):
none does better than 100 × 3.

The same range-test rule on each seed's own curve (up to its stop) shows how much the suggestion varies across
seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from descentlab.errors import UserError
from descentlab.jsonable import to_json_data

BETA = 0.98  # EMA factor of the online smoothed loss (fastai's default): the stop rule's
STOP_FACTOR = 4.0  # stop once the smoothed loss exceeds this many times its best
HALF_WIDTH_DECADES = 0.25  # half the zero-phase window, in decades of lr
RANGE_FACTOR = 3.0  # without the check, the suggested range is lr / RANGE_FACTOR … lr
CHECK_STEPS = 400  # updates of each short run of the check (0: no check)
CHECK_SIDE = 3  # the check's rates: the steepest descent × 10^(j / CHECK_PER_DECADE), j = −CHECK_SIDE … CHECK_SIDE
CHECK_PER_DECADE = 4
CHECK_EXTENSIONS = 2  # how many times the check may add CHECK_SIDE rates beyond an end rate that was picked


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
    """The bias-corrected EMA of a whole sequence of losses (the online smoothing of the stop rule)."""
    s = Smoother(beta)
    return [s.update(float(x))[0] for x in losses]


def half_width(start: float, end: float, steps: int) -> int:
    """``H``: how many steps of the schedule make :data:`HALF_WIDTH_DECADES` of a decade of lr (at least 1)."""
    per_decade = (steps - 1) / math.log10(end / start)
    return max(1, round(HALF_WIDTH_DECADES * per_decade))


def zero_phase(losses: Sequence[float], half: int) -> list[float]:
    """The centred moving average ``z_k = mean(losses[k − h … k + h])``, ``h = min(half, k, n − 1 − k)``: each
    average centred on its own step, the window narrowed symmetrically at both ends (the module docstring)."""
    values = np.asarray(losses, dtype=float)
    n = len(values)
    sums = np.concatenate(([0.0], np.cumsum(values)))
    k = np.arange(n)
    h = np.minimum(np.minimum(half, k), n - 1 - k)
    return ((sums[k + h + 1] - sums[k - h]) / (2 * h + 1)).tolist()


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
    """The suggested ``lr`` and range ``lower … upper``, and the points of the range test's curve they come from
    (see the module docstring); ``checked``: whether ``lr`` is the check's pick (else the steepest descent)."""

    lr: float | None
    lower: float | None
    upper: float | None
    steepest_lr: float | None
    min_lr: float | None
    min_loss: float | None
    note: str = ""
    checked: bool = False


def suggest(lrs: Sequence[float], curve: Sequence[float], skip: int = 0) -> Suggestion:
    """The rule of the module docstring on the finite prefix of the (zero-phase) ``curve``: ``lr`` = the steepest
    descent on the way to the minimum, looked for from step ``skip`` on (from 0 when the minimum is not past
    ``skip``); the range ``lr / RANGE_FACTOR … lr``."""
    values = np.asarray(curve, dtype=float)
    finite = np.isfinite(values)
    n = int(np.argmin(finite)) if not finite.all() else len(values)
    if n < 2:
        return Suggestion(None, None, None, None, None, None, "fewer than 2 finite points: no suggestion")
    lr, values = np.asarray(lrs[:n], dtype=float), values[:n]
    i_min = int(np.argmin(values))
    slope = np.gradient(values, np.log(lr))
    first = skip if skip < i_min else 0
    steepest, lr_min = float(lr[first + int(np.argmin(slope[first: i_min + 1]))]), float(lr[i_min])
    note = "" if i_min > 0 else "the loss never fell below its first value: try a smaller --start"
    return Suggestion(steepest, steepest / RANGE_FACTOR, steepest, steepest, lr_min, float(values[i_min]), note)


def check_rates(anchor: float, low: int = -CHECK_SIDE, high: int = CHECK_SIDE) -> list[float]:
    """The check's constant rates around the range test's suggestion ``anchor``:
    ``anchor · 10^(j / CHECK_PER_DECADE)`` for ``j = low … high`` (at first ¾ of a decade either side)."""
    return [anchor * 10 ** (j / CHECK_PER_DECADE) for j in range(low, high + 1)]


def check_score(losses: Sequence[float], steps: int) -> float:
    """A short run's score: the mean training loss of its last quarter (``ceil(steps / 4)`` updates); +∞ for a run
    that did not make its ``steps`` updates (it diverged) or logged a non-finite loss."""
    values = np.asarray(losses, dtype=float)
    if len(values) < steps or not np.isfinite(values).all():
        return math.inf
    return float(values[-math.ceil(steps / 4):].mean())


@dataclass(frozen=True)
class CheckedRate:
    """One rate of the check: each seed's score (:func:`check_score`), their mean, and the mean with its neighbours
    among the checked rates (the score the pick is made on)."""

    lr: float
    scores: list[float]
    mean: float
    smoothed: float


def check(rates: Sequence[float], scores: Sequence[Sequence[float]]) -> tuple[list[CheckedRate], int | None]:
    """The checked rates (ascending) and the index of the pick: the lowest mean score averaged with the rates one
    step either side, an end rate standing in for its missing neighbour (so an end next to the best rate does not
    look better than the best for lack of its other side); a diverged neighbour makes it +∞; ties go to the lower
    rate. When every rate that did not diverge has a diverged neighbour, the lowest plain mean; None when every
    rate diverged or none ran."""
    means = [float(np.mean(s)) if len(s) else math.inf for s in scores]
    padded = means[:1] + means + means[-1:]
    smoothed = [float(np.mean(padded[i: i + 3])) for i in range(len(means))]
    checked = [CheckedRate(float(r), [float(x) for x in s], m, sm)
               for r, s, m, sm in zip(rates, scores, means, smoothed, strict=True)]
    finite = [i for i, sm in enumerate(smoothed) if math.isfinite(sm)]
    if finite:
        return checked, min(finite, key=lambda i: smoothed[i])
    # every rate that did not diverge has a neighbour that did: the lowest plain mean, if any
    alive = [i for i, m in enumerate(means) if math.isfinite(m)]
    return checked, (min(alive, key=lambda i: means[i]) if alive else None)


def check_plan(anchor: float, losses: Mapping[float, Sequence[Sequence[float]]], steps: int,
               seeds: int | None = None) -> tuple[list[float], list[CheckedRate], int | None]:
    """The check as far as ``losses`` (per rate, each finished seed's logged losses) go: ``(rates still to run,
    checked rates, index of the pick)``. It starts with :func:`check_rates` of ``anchor``; while the pick is an end
    rate, CHECK_SIDE more rates are added beyond it, at most CHECK_EXTENSIONS times a side (the best rate of a short
    run can lie further from the range test's suggestion than ¾ of a decade: Adagrad's, whose steps shrink as it
    runs, above it); when every rate diverged, rates below are added the same way; when every rate gave the same
    loss, none are (the tie went to the lowest; its note says the rate made no difference). A rate with fewer than
    ``seeds`` finished seeds (None: with none) is still to run — an interrupted check is resumed, not scored on the
    seeds that happened to finish; one whose seeds all diverged scores +∞."""
    need = 1 if seeds is None else seeds
    by_rate = {_rate_key(r): v for r, v in losses.items() if len(v) >= need}
    low, high = -CHECK_SIDE, CHECK_SIDE
    while True:
        rates = check_rates(anchor, low, high)
        missing = [r for r in rates if _rate_key(r) not in by_rate]
        if missing:
            return missing, [], None
        checked, pick = check(rates, [[check_score(x, steps) for x in by_rate[_rate_key(r)]] for r in rates])
        if len({c.mean for c in checked}) == 1 and math.isfinite(checked[0].mean):
            return [], checked, pick  # every rate gave the same loss: more rates would say nothing more
        if pick == len(rates) - 1 and high < CHECK_SIDE * (1 + CHECK_EXTENSIONS):
            high += CHECK_SIDE
        elif pick in (0, None) and low > -CHECK_SIDE * (1 + CHECK_EXTENSIONS):
            low -= CHECK_SIDE  # also when every rate diverged: lower ones may not
        else:
            return [], checked, pick


def checked_suggestion(ranged: Suggestion, checked: Sequence[CheckedRate], pick: int | None) -> Suggestion:
    """The suggestion after the check: ``lr`` = the picked rate, the range ``lr / RANGE_FACTOR … lr`` (a short run
    favours higher rates than a long one: the range reaches down from the pick, not up); the range test's own
    suggestion when nothing could be picked."""
    if pick is None:
        note = "every short run of the check diverged: the range test's suggestion is given unchecked"
        return replace(ranged, note="; ".join(n for n in (ranged.note, note) if n))
    lr = checked[pick].lr
    notes = [ranged.note] if ranged.note else []
    if pick in (0, len(checked) - 1) and len(checked) > 1:
        side = "lowest" if pick == 0 else "highest"
        notes.append(f"the pick is the {side} rate checked: the best rate may lie beyond it")
    if len(checked) > 1 and len({c.mean for c in checked}) == 1:  # the tie rule alone made the pick
        notes.append("every checked rate gave the same training loss: the rate made no difference in these short "
                     "runs (the optimizer may ignore it, or the runs are too short to show it)")
    return replace(ranged, lr=lr, lower=lr / RANGE_FACTOR, upper=lr, note="; ".join(notes), checked=True)


def skip_steps(steps: int) -> int:
    """Steps at the start of the schedule left out of the search for the steepest descent: the first tenth."""
    return steps // 10


def median_curve(curves: Sequence[Sequence[float]], steps: int) -> np.ndarray:
    """Per step, the median over seeds of their (zero-phase) curves; a seed past its stop (or with a non-finite
    value) counts as +∞, and from the first step where the median is not finite on, the curve is NaN."""
    if not curves:  # every seed failed: no curve, and no median (numpy would warn of an empty mean)
        return np.full(steps, np.nan)
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
    """One seed's test: per recorded step its lr, raw loss and online-smoothed loss (the stop rule's); where it
    stopped; the zero-phase curve of the steps before the stop (what the suggestion and the figure use)."""

    seed: int
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_step: int | None  # the step at which the stop rule fired; None: ran all steps
    steps: int  # the length of the schedule (``len(lrs)`` unless it stopped)
    zero_phase: list[float]  # ``zero_phase(losses[:usable], H)``

    @property
    def usable(self) -> int:
        """How many steps count for the suggestion and the median: those before the stop."""
        return len(self.smoothed) if self.stop_step is None else self.stop_step

    @property
    def suggestion(self) -> Suggestion:
        return suggest(self.lrs[: self.usable], self.zero_phase, skip_steps(self.steps))

    def epochs(self) -> list[dict[str, Any]]:
        """The stored form: one entry per recorded step (stored with ``first_epoch=0``, so epoch = step)."""
        return [{"step": k, "lr": lr, "loss": loss, "smoothed_loss": s}
                for k, (lr, loss, s) in enumerate(zip(self.lrs, self.losses, self.smoothed))]


@dataclass(frozen=True)
class LRFindResult:
    spec: Mapping[str, Any]  # the experiment's stored spec (task, start, end, steps, check_steps, preset, …)
    optimizer: str
    hyperparameters: dict[str, Any]
    batch_size: int | str
    lrs: list[float]  # the whole schedule
    curves: list[SeedCurve]
    median: list[float]  # per step, of the seeds' zero-phase curves; NaN where the median is not finite
    suggestion: Suggestion
    ranged: Suggestion | None = None  # the range test's own suggestion (the check's anchor); None: same as above
    checked: list[CheckedRate] = field(default_factory=list)  # the check's rates, ascending; empty: no check
    to_check: list[float] = field(default_factory=list)  # rates the check still has to run (then ``checked`` is [])

    @property
    def range_test(self) -> Suggestion:
        """The suggestion of the range test alone, before any check."""
        return self.ranged or self.suggestion

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers as None)."""
        return to_json_data({
            "spec": dict(self.spec), "optimizer": self.optimizer, "hyperparameters": self.hyperparameters,
            "batch_size": self.batch_size, "suggestion": asdict(self.suggestion),
            "range_test": asdict(self.range_test),
            "check": [asdict(c) for c in self.checked], "to_check": list(self.to_check),
            "seeds": [{"seed": c.seed, "stop_step": c.stop_step, "suggestion": asdict(c.suggestion),
                       "lrs": c.lrs, "losses": c.losses, "smoothed": c.smoothed, "zero_phase": c.zero_phase}
                      for c in self.curves],
            "median": {"lrs": self.lrs, "zero_phase": self.median},
        })


def check_steps_of(spec: Mapping[str, Any]) -> int:
    """The spec's ``check_steps`` (a spec stored before the check existed has none: 0)."""
    return int(spec.get("check_steps") or 0)


def combine(spec: Mapping[str, Any], optimizer: str, hyper: dict[str, Any], batch_size: int | str,
            curves: Sequence[SeedCurve], checks: Mapping[float, Sequence[Sequence[float]]] | None = None
            ) -> LRFindResult:
    """The result of the seeds' ``curves`` under ``spec`` (a dict with ``start``, ``end`` and ``steps``, and
    ``check_steps``); ``checks``: per rate of the check run so far, each finished seed's logged losses
    (:func:`check_plan`; None: the check is not asked for). While the check has rates to run (``to_check``), the
    suggestion is the range test's."""
    steps = spec["steps"]
    lrs = learning_rates(spec["start"], spec["end"], steps)
    # a seed's steps from its stop on count in the median as blown up (+∞)
    med = median_curve([c.zero_phase for c in curves], steps)
    ranged = suggest(lrs, med, skip_steps(steps))
    if checks is None or ranged.lr is None or not check_steps_of(spec):
        return LRFindResult(dict(spec), optimizer, dict(hyper), batch_size, lrs, list(curves), med.tolist(), ranged)
    missing, checked, pick = check_plan(ranged.lr, checks, check_steps_of(spec), spec.get("seeds"))
    if missing:
        note = (f"the check has not finished ({len(missing)} of its rates still to run: runs interrupted or "
                "failed, which the same lr-find again runs): the range test's suggestion, unchecked")
        return LRFindResult(dict(spec), optimizer, dict(hyper), batch_size, lrs, list(curves), med.tolist(),
                            replace(ranged, note="; ".join(n for n in (ranged.note, note) if n)), ranged, [],
                            missing)
    return LRFindResult(dict(spec), optimizer, dict(hyper), batch_size, lrs, list(curves), med.tolist(),
                        checked_suggestion(ranged, checked, pick), ranged, checked)


def _rate_key(lr: float) -> float:
    # a rate read back from the store is the float that was stored; rounding only guards a recomputed one
    return float(f"{lr:.12g}")


def logged_losses(steps: Sequence[Mapping[str, Any]]) -> list[float]:
    """Each logged update's loss (``{"step", "lr", "loss"}``, in order); NaN where none was stored (non-finite)."""
    return [math.nan if s["loss"] is None else float(s["loss"]) for s in steps]


def curve(seed: int, steps: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]) -> SeedCurve:
    """A seed's curve from its logged updates (``{"step", "lr", "loss"}``, in order) under ``spec`` (a dict with
    ``start``, ``end`` and ``steps``)."""
    losses = logged_losses(steps)
    smoothed = smooth(losses)
    stop = stop_step(smoothed)
    usable = len(losses) if stop is None else stop
    curve = zero_phase(losses[:usable], half_width(spec["start"], spec["end"], spec["steps"]))
    return SeedCurve(seed, [s["lr"] for s in steps], losses, smoothed, stop, spec["steps"], curve)


def is_check_run(config: Mapping[str, Any]) -> bool:
    """Whether a stored run is one of the check's (a constant rate: its schedule stored as None) rather than a
    seed of the range test (its schedule the exponential ramp)."""
    return "schedule" in config and config["schedule"] is None


def stored_result(spec: Mapping[str, Any], runs: Sequence[tuple[int, Mapping[str, Any], Sequence[Mapping[str, Any]]]]
                  ) -> LRFindResult:
    """The result of a stored test from its spec and its finished runs as ``(seed, config, logged updates)``: the
    smoothed curves and stops are recomputed from the stored losses, which is what the running smoother gave; the
    check's runs (:func:`is_check_run`) are grouped by their rate."""
    runs = sorted(runs, key=lambda r: r[0])
    tests = [r for r in runs if not is_check_run(r[1])]
    curves = [curve(seed, steps, spec) for seed, _, steps in tests]
    checks: dict[float, list[list[float]]] = {}
    for _, config, steps in (r for r in runs if is_check_run(r[1])):
        lr = float(config.get("hyperparameters", {}).get("lr"))
        checks.setdefault(lr, []).append(logged_losses(steps))
    config = tests[0][1] if tests else {}
    return combine(spec, config.get("optimizer", spec.get("optimizer")), config.get("hyperparameters", {}),
                   config.get("batch_size", spec.get("batch_size")), curves, checks)
