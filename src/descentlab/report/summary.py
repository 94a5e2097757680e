"""The numbers the tables show, computed from store records only.

- :func:`summarize` — one :class:`GroupSummary` per group of runs that differ only in their seed (same optimizer,
  batch size, hyperparameters and learning-rate schedule), in first-seen order.
- :func:`sweep_summaries` — per (optimizer, batch size, variant): the learning rate chosen on validation, the
  test accuracy at that rate and the tuning budget (:class:`SweepSummary`). A variant is one setting of the other
  hyperparameters (``--momentum 0.8,0.9`` gives two), or one schedule of several (``--schedule constant,cosine``);
  they are summarized apart, never averaged together, and their labels name them (``adam (cosine)``).

Conventions, written once:

- A :class:`Stat` is mean ± sample standard deviation (``ddof=1``; 0 for a single value) over the seeds whose
  value is finite; ``n`` says how many that is. Diverged and failed runs have no final metrics: they are left out
  of the means and counted in ``diverged`` / ``failed`` instead — never hidden.
- *Final* is the last stored epoch of a completed run; *best* val acc is the best epoch of any run.
- Time to target: the first epoch whose ``val_acc`` ≥ ``target`` and the training seconds until then; the
  statistics are over the seeds that reached it (``reached`` of ``n_runs``).
- Best learning rate: the highest mean final val acc over seeds, among the rates where no seed diverged or
  failed (if every rate lost a seed, among all rates with a finite mean); ties go to the smaller rate.
- A task whose metric is the loss (regression: the experiment's spec says ``task_metric: "loss"``, see
  :func:`metric_of`) has no accuracies: its time to target is the first epoch whose ``val_loss`` ≤
  ``target_val_loss``, and the best learning rate is the one of the *lowest* mean final val loss.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from descentlab.grid import variant_label
from descentlab.report.data import ExperimentData, RunData, finite
from descentlab.schedules.spec import scheduled_label
from descentlab.store import canonical_json


@dataclass(frozen=True)
class Stat:
    """Mean ± sample std over ``n`` finite values (NaN mean when ``n == 0``)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        values = finite(values)
        if not values:
            return cls(math.nan, math.nan, 0)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), std, len(values))

    def format(self, fmt: str = ".4g", scale: float = 1.0, unit: str = "") -> str:
        """``"91.20 ± 0.35 %"`` style text (``"–"`` when there is no value); the std is left out when n = 1."""
        if self.n == 0:
            return "–"
        text = format(self.mean * scale, fmt)
        if self.n > 1:
            text += " ± " + format(self.std * scale, fmt)
        return text + (f" {unit}" if unit else "")

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class GroupSummary:
    """Runs that differ only by seed: one row of the summary table."""

    optimizer: str
    batch_size: int | str | None
    hyperparameters: dict[str, Any]
    seeds: tuple[int, ...]
    n_runs: int
    completed: int
    diverged: int
    failed: int
    final_train_loss: Stat
    final_val_acc: Stat
    best_val_acc: Stat
    final_test_acc: Stat
    target: float | None
    reached: int  # seeds whose val acc reached the target
    epochs_to_target: Stat
    seconds_to_target: Stat
    seconds_per_epoch: Stat  # per seed: the mean of its epochs' training seconds
    steps_per_s: Stat
    state_bytes: Stat  # optimizer state at the last stored epoch
    peak_memory_bytes: Stat  # n = 0 where the trainer does not measure it (CPU)
    # Runs trained together in one vectorized pass report the pass's seconds; the most that shared one.
    shared_by: int = 1
    final_val_loss: Stat = field(default_factory=lambda: Stat.of([]))
    best_val_loss: Stat = field(default_factory=lambda: Stat.of([]))
    final_test_loss: Stat = field(default_factory=lambda: Stat.of([]))
    metric: str = "accuracy"  # or "loss": the task's measure (see the module docstring)
    schedule: str | None = None  # the learning-rate schedule's label; None: a constant lr
    optimizer_code: str | None = None  # SHA-256 of the code of an optimizer that is not descentlab's

    @property
    def lr(self) -> float | None:
        lr = self.hyperparameters.get("lr")
        return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None


@dataclass(frozen=True)
class LrPoint:
    """One learning rate of a sweep: final val and test acc over its seeds."""

    lr: float
    val_acc: Stat
    test_acc: Stat
    n_runs: int
    diverged: int
    failed: int
    val_loss: Stat = field(default_factory=lambda: Stat.of([]))
    test_loss: Stat = field(default_factory=lambda: Stat.of([]))


@dataclass(frozen=True)
class SweepSummary:
    """One optimizer (at one batch size, in one variant) of a sweep: what it was given and what it chose."""

    optimizer: str
    batch_size: int | str | None
    trials: int  # distinct configurations tried (the tuning budget)
    runs: int  # trials × seeds actually run
    points: tuple[LrPoint, ...]  # by increasing lr
    best_lr: float | None
    best_val_acc: Stat
    test_acc_at_best: Stat
    # The hyperparameters other than lr that set this variant apart from the same optimizer's other variants at
    # this batch size, as (name, value); empty when the optimizer was swept in one variant only.
    fixed: tuple[tuple[str, Any], ...] = ()
    best_val_loss: Stat = field(default_factory=lambda: Stat.of([]))
    test_loss_at_best: Stat = field(default_factory=lambda: Stat.of([]))
    metric: str = "accuracy"  # or "loss": the rate was chosen by the lowest val loss
    schedule: str | None = None  # the learning-rate schedule's label; None: a constant lr

    @property
    def label(self) -> str:
        """``"sgd"``, ``"sgd (momentum=0.9)"`` for one of several variants, ``"sgd (momentum=0.9, cosine)"`` with a
        schedule."""
        return scheduled_label(variant_label(self.optimizer, dict(self.fixed)), self.schedule)

    def holds(self, run: RunData) -> bool:
        """Whether ``run`` belongs to this summary's optimizer, batch size, variant and schedule (at any lr)."""
        return (run.optimizer == self.optimizer and canonical_json(run.batch_size) == canonical_json(self.batch_size)
                and all(canonical_json(run.hyperparameters.get(k)) == canonical_json(v) for k, v in self.fixed)
                and run.schedule == self.schedule)


def group_key(run: RunData) -> tuple[str, str, str, str | None]:
    """Runs with equal keys differ only by seed."""
    return run.optimizer, canonical_json(run.batch_size), canonical_json(run.hyperparameters), run.schedule


def _groups(runs: Sequence[RunData], key: Callable[[RunData], Any]) -> dict[Any, list[RunData]]:
    groups: dict[Any, list[RunData]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return groups


def metric_of(data: ExperimentData) -> str:
    """``"loss"`` for an experiment on a task whose metric is the loss (the spec's ``task_metric``), else
    ``"accuracy"``."""
    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    return "loss" if spec.get("task_metric") == "loss" else "accuracy"


def target_of(data: ExperimentData) -> float | None:
    """The target stored with the experiment: for a task whose metric is the loss its spec's ``target_val_loss``,
    else its ``target_val_acc`` (or ``target``); None when the experiment stored none (stores written before targets
    were stored): the report then shows no time to target."""
    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    if metric_of(data) == "loss":
        value = spec.get("target_val_loss")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    for name in ("target_val_acc", "target"):
        value = spec.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def time_to_target(run: RunData, target: float, metric: str = "accuracy") -> tuple[float, float] | None:
    """(epoch, training seconds) of the first epoch whose val acc ≥ ``target`` (for ``metric="loss"``: whose val
    loss ≤ ``target``); None if never."""
    elapsed = run.elapsed()
    key = "val_loss" if metric == "loss" else "val_acc"
    for i, (epoch, value) in enumerate(zip(run.epoch_numbers(), run.values(key))):
        if math.isfinite(value) and (value <= target if metric == "loss" else value >= target):
            return float(epoch), float(elapsed[i])
    return None


def _mean_of(run: RunData, metric: str) -> float:
    values = finite([_value(e.get(metric)) for e in run.trained_epochs])
    return statistics.fmean(values) if values else math.nan


def _value(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _last(run: RunData, metric: str) -> float:
    values = finite([_value(e.get(metric)) for e in run.epochs])
    return values[-1] if values else math.nan


def summarize_group(runs: Sequence[RunData], target: float | None = None, metric: str = "accuracy") -> GroupSummary:
    """The summary of runs that differ only by seed (``runs`` must be non-empty)."""
    first = runs[0]
    reached = [t for r in runs if target is not None and (t := time_to_target(r, target, metric)) is not None]
    peaks = [max(finite(r.values("peak_memory_bytes")), default=math.nan) for r in runs]
    return GroupSummary(
        optimizer=first.optimizer,
        batch_size=first.batch_size,
        hyperparameters=first.hyperparameters,
        seeds=tuple(sorted(r.seed for r in runs)),
        n_runs=len(runs),
        completed=sum(r.status == "completed" for r in runs),
        diverged=sum(r.status == "diverged" for r in runs),
        failed=sum(r.status == "failed" for r in runs),
        final_train_loss=Stat.of([r.final("train_loss") for r in runs]),
        final_val_acc=Stat.of([r.final("val_acc") for r in runs]),
        best_val_acc=Stat.of([r.best("val_acc") for r in runs]),
        final_test_acc=Stat.of([r.final("test_acc") for r in runs]),
        target=target,
        reached=len(reached),
        epochs_to_target=Stat.of([e for e, _ in reached]),
        seconds_to_target=Stat.of([s for _, s in reached]),
        seconds_per_epoch=Stat.of([_mean_of(r, "seconds") for r in runs]),
        steps_per_s=Stat.of([_mean_of(r, "steps_per_s") for r in runs]),
        state_bytes=Stat.of([_last(r, "state_bytes") for r in runs]),
        peak_memory_bytes=Stat.of(peaks),
        shared_by=int(max((v for r in runs for v in finite(r.values("shared_by"))), default=1)),
        final_val_loss=Stat.of([r.final("val_loss") for r in runs]),
        best_val_loss=Stat.of([r.best("val_loss", "min") for r in runs]),
        final_test_loss=Stat.of([r.final("test_loss") for r in runs]),
        metric=metric,
        schedule=first.schedule,
        optimizer_code=(first.config.get("code") or {}).get("optimizer"),
    )


def summarize(data: ExperimentData | Sequence[RunData], target: float | None = None) -> list[GroupSummary]:
    """One :class:`GroupSummary` per (optimizer, batch size, hyperparameters), in the order runs were started.

    ``target`` defaults to :func:`target_of` the experiment when ``data`` is an :class:`ExperimentData`.
    """
    metric = "accuracy"
    if isinstance(data, ExperimentData):
        target = target_of(data) if target is None else target
        metric = metric_of(data)
        data = data.runs
    return [summarize_group(group, target, metric) for group in _groups(data, group_key).values()]


def _choose(points: Sequence[LrPoint], metric: str = "accuracy") -> LrPoint | None:
    if metric == "loss":
        scored = [p for p in points if p.val_loss.n > 0]
        score = lambda p: (-p.val_loss.mean, -p.lr)  # noqa: E731 - the lowest loss, ties to the smaller rate
    else:
        scored = [p for p in points if p.val_acc.n > 0]
        score = lambda p: (p.val_acc.mean, -p.lr)  # noqa: E731
    clean = [p for p in scored if p.diverged == 0 and p.failed == 0]
    candidates = clean or scored
    if not candidates:
        return None
    return max(candidates, key=score)


def sweep_summaries(data: ExperimentData | Sequence[RunData]) -> list[SweepSummary]:
    """Per (optimizer, batch size, variant): each learning rate's val/test acc, the chosen rate and the budget.

    Runs without a learning rate are left out; an optimizer none of whose runs has one is not listed.
    """
    metric = metric_of(data) if isinstance(data, ExperimentData) else "accuracy"
    runs = data.runs if isinstance(data, ExperimentData) else data
    out = []
    by_optimizer = _groups([r for r in runs if r.lr is not None], lambda r: (r.optimizer, canonical_json(r.batch_size)))
    for group in by_optimizer.values():
        variants = _groups(group, lambda r: (canonical_json(_without_lr(r.hyperparameters)), r.schedule))
        differing = _differing([members[0].hyperparameters for members in variants.values()])
        for members in variants.values():
            points = []
            for lr, at_lr in sorted(_groups(members, lambda r: r.lr).items()):
                points.append(LrPoint(
                    lr=lr,
                    val_acc=Stat.of([r.final("val_acc") for r in at_lr]),
                    test_acc=Stat.of([r.final("test_acc") for r in at_lr]),
                    n_runs=len(at_lr),
                    diverged=sum(r.status == "diverged" for r in at_lr),
                    failed=sum(r.status == "failed" for r in at_lr),
                    val_loss=Stat.of([r.final("val_loss") for r in at_lr]),
                    test_loss=Stat.of([r.final("test_loss") for r in at_lr]),
                ))
            best = _choose(points, metric)
            out.append(SweepSummary(
                optimizer=members[0].optimizer,
                batch_size=members[0].batch_size,
                trials=len({group_key(r) for r in members}),
                runs=len(members),
                points=tuple(points),
                best_lr=best.lr if best else None,
                best_val_acc=best.val_acc if best else Stat.of([]),
                test_acc_at_best=best.test_acc if best else Stat.of([]),
                fixed=tuple((k, members[0].hyperparameters.get(k)) for k in differing),
                best_val_loss=best.val_loss if best else Stat.of([]),
                test_loss_at_best=best.test_loss if best else Stat.of([]),
                metric=metric,
                schedule=members[0].schedule,
            ))
    return out


def _without_lr(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hyperparameters.items() if k != "lr"}


def _differing(settings: Sequence[dict[str, Any]]) -> list[str]:
    """The hyperparameters other than lr whose values are not the same in every one of ``settings``."""
    names = sorted({k for h in settings for k in h if k != "lr"})
    return [k for k in names if len({canonical_json(h.get(k)) for h in settings}) > 1]


def group_labels(groups: Sequence[GroupSummary]) -> list[str]:
    """Each group's optimizer, with the hyperparameters (other than lr) that set it apart from the same
    optimizer's other groups and its schedule: ``"sgd (momentum=0.9)"``, ``"adam (cosine)"``, or just ``"sgd"``
    when they differ in lr only."""
    differing = {opt: _differing([g.hyperparameters for g in gs])
                 for opt, gs in _groups(groups, lambda g: g.optimizer).items()}
    return [scheduled_label(variant_label(g.optimizer, {k: g.hyperparameters.get(k) for k in differing[g.optimizer]}),
                            g.schedule) for g in groups]


def format_bytes(n: float | None) -> str:
    """``1536`` → ``"1.5 KiB"``; ``"–"`` for None or NaN."""
    if n is None or not math.isfinite(n):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def edge_warning(sweep: SweepSummary, label: str | None = None) -> str | None:
    """A warning when the learning rate chosen on validation is the lowest or the highest rate of the grid that
    was swept (the best may lie beyond it), e.g. ``"adam: chosen lr 1 is the top of the grid 0.0001..1: widen
    --lr"``; None when it is inside, or when nothing was chosen or only one rate was swept."""
    lrs = [p.lr for p in sweep.points]
    if sweep.best_lr is None or len(lrs) < 2 or min(lrs) < sweep.best_lr < max(lrs):
        return None
    edge = "top" if sweep.best_lr == max(lrs) else "bottom"
    return (f"{label or sweep.label}: chosen lr {sweep.best_lr:g} is the {edge} of the grid "
            f"{min(lrs):g}..{max(lrs):g}: widen --lr")
