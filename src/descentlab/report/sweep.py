"""A sweep read back from the store: one row per variant with the learning rate chosen on validation, the
learning-rate sensitivity table and the JSON summary. A chosen rate at the top or bottom of the swept grid comes
with a warning (:func:`descentlab.report.summary.edge_warning`): in the JSON (``chosen_lr_warning``, ``lr_warning``),
in the tuning table's note and as a line of ``descentlab sweep``'s summary.

:func:`sweep_rows` gives one :class:`SweepRow` per *variant* — an optimizer at one combination of the grid's extra
values (just the optimizer when there are none) — with the learning rate chosen on validation by
:func:`descentlab.report.summary.sweep_summaries`; :func:`best_per_optimizer` picks each optimizer's best variant
the same way (highest mean final val acc at its chosen lr; test is only reported). The grid's names are read from
the stored spec and mapped back by :mod:`descentlab.grid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from descentlab.grid import extras_of, variant_label
from descentlab.report.data import ExperimentData
from descentlab.report.summary import LrPoint, Stat, SweepSummary, edge_warning, sweep_summaries
from descentlab.report.tables import Table
from descentlab.schedules.spec import scheduled_label


@dataclass(frozen=True)
class SweepRow:
    """One variant of a sweep: the optimizer at one combination of the extra values, over the learning rates."""

    optimizer: str
    extras: dict[str, Any]  # the swept extra values, by the grid's names (beta1, not betas)
    summary: SweepSummary

    @property
    def label(self) -> str:
        """``"sgd"``, ``"sgd (momentum=0.9)"``, ``"sgd (momentum=0.9, cosine)"``: the variant and its schedule."""
        return scheduled_label(variant_label(self.optimizer, self.extras), self.summary.schedule)

    @property
    def edge_warning(self) -> str | None:
        """The warning when the chosen lr is the top or bottom of the swept grid (None when inside)."""
        return edge_warning(self.summary, self.label)


def grid_names(data: ExperimentData) -> list[str]:
    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    grid = spec.get("grid")
    return list(grid) if isinstance(grid, dict) else []


def sweep_rows(data: ExperimentData) -> list[SweepRow]:
    """One row per variant of ``sweep_summaries`` (which splits them and chooses each one's lr on validation),
    with the variant's values of the grid's extra hyperparameters."""
    names = grid_names(data)
    rows = []
    for summary in sweep_summaries(data):
        run = next(r for r in data.runs if summary.holds(r))
        rows.append(SweepRow(summary.optimizer, extras_of(run.hyperparameters, names), summary))
    return rows


def best_per_optimizer(rows: Sequence[SweepRow]) -> dict[str, SweepRow]:
    """Each optimizer's variant with the best mean final val acc at its chosen lr (the lowest val loss for a task
    whose metric is the loss; ties: the first listed)."""
    def score(row: SweepRow) -> float:
        s = row.summary
        return -s.best_val_loss.mean if s.metric == "loss" else s.best_val_acc.mean

    best: dict[str, SweepRow] = {}
    for row in rows:
        if row.summary.best_lr is None:
            continue
        current = best.get(row.optimizer)
        if current is None or score(row) > score(current):
            best[row.optimizer] = row
    return best


def _cell(point: LrPoint | None, chosen: bool, by_loss: bool = False) -> str:
    if point is None:
        return "–"
    measure = point.val_loss if by_loss else point.val_acc
    if point.diverged:
        text = "div"
    elif measure.n == 0:
        text = "fail" if point.failed else "–"
    else:
        text = f"{measure.mean:.4g}" if by_loss else f"{measure.mean * 100:.1f}"
    return text + " *" if chosen else text


def sensitivity_table(rows: Sequence[SweepRow]) -> Table:
    """Rows = learning rates, columns = variants, cells = final val acc % (mean over seeds), ``div`` if any
    seed diverged; ``*`` marks the rate chosen on validation."""
    lrs = sorted({p.lr for r in rows for p in r.summary.points})
    by_loss = any(r.summary.metric == "loss" for r in rows)  # regression: val loss, the lowest chosen
    body = []
    for lr in lrs:
        cells = []
        for r in rows:
            point = next((p for p in r.summary.points if p.lr == lr), None)
            cells.append(_cell(point, r.summary.best_lr == lr, by_loss))
        body.append((f"{lr:.4g}", *cells))
    what = "final val loss" if by_loss else "final val acc %"
    return Table(f"Learning-rate sensitivity: {what} (mean over seeds)", ("lr", *(r.label for r in rows)),
                 tuple(body),
                 "* chosen on validation; div: at least one seed diverged (loss non-finite, or over 100× its start)")


def _stat(stat: Stat) -> dict[str, Any] | None:
    return {"mean": stat.mean, "std": stat.std, "n": stat.n} if stat.n else None


def _row_json(row: SweepRow) -> dict[str, Any]:
    s = row.summary
    return {
        "optimizer": row.optimizer, "variant": row.label, "extras": row.extras, "batch_size": s.batch_size,
        "trials": s.trials, "runs": s.runs, "diverged": sum(p.diverged for p in s.points),
        "chosen_lr": s.best_lr, "chosen_lr_warning": row.edge_warning, "val_acc_at_chosen_lr": _stat(s.best_val_acc),
        "test_acc_at_chosen_lr": _stat(s.test_acc_at_best), "val_loss_at_chosen_lr": _stat(s.best_val_loss),
        "test_loss_at_chosen_lr": _stat(s.test_loss_at_best),
        "points": [{"lr": p.lr, "val_acc": _stat(p.val_acc), "test_acc": _stat(p.test_acc),
                    "val_loss": _stat(p.val_loss), "test_loss": _stat(p.test_loss), "runs": p.n_runs,
                    "diverged": p.diverged, "failed": p.failed} for p in s.points],
    }


def sweep_json(rows: Sequence[SweepRow]) -> dict[str, Any]:
    """The per-variant entries and, per optimizer, the chosen configuration with its whole tuning budget."""
    best = {}
    for optimizer, row in best_per_optimizer(rows).items():
        mine = [r for r in rows if r.optimizer == optimizer]
        best[optimizer] = {"variant": row.label, "extras": row.extras, "lr": row.summary.best_lr,
                           "lr_warning": row.edge_warning,
                           "val_acc": _stat(row.summary.best_val_acc), "test_acc": _stat(row.summary.test_acc_at_best),
                           "val_loss": _stat(row.summary.best_val_loss),
                           "test_loss": _stat(row.summary.test_loss_at_best),
                           "trials": sum(r.summary.trials for r in mine), "runs": sum(r.summary.runs for r in mine)}
    return {"optimizers": [_row_json(r) for r in rows], "best": best}
