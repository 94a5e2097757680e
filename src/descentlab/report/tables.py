"""The tables of stored results, built once as rows of plain text and rendered three ways: to HTML and Markdown by
:mod:`.html`, to a terminal by :func:`rich_table` (what the commands print).

Every function returns a :class:`Table` (title, headers, rows of strings, a note); nothing here formats markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from descentlab.report.data import ExperimentData, batch_label
from descentlab.report.summary import GroupSummary, SweepSummary, edge_warning, format_bytes, group_labels
from descentlab.schedules.spec import scheduled_label


@dataclass(frozen=True)
class Table:
    """``brief``: the indices of the columns a terminal shows (None: all); the HTML and Markdown show all."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    brief: tuple[int, ...] | None = None


def rich_table(table: Table, *, brief: bool = True, width: int | None = None) -> Any:
    """``table`` as a ``rich.table.Table`` (first column left-aligned, the others right), its ``brief`` columns only
    unless ``brief=False``. When it would be wider than ``width`` characters, headers wrap and cells do not."""
    from rich.table import Table as RichTable

    keep = list(table.brief if brief and table.brief is not None else range(len(table.headers)))
    cells = {i: max([len(row[i]) for row in table.rows] or [0]) for i in keep}
    natural = sum(max(cells[i], len(table.headers[i])) + 3 for i in keep) + 1  # padding and rules included
    narrow = width is not None and natural > width
    rt = RichTable(title=table.title, title_justify="left", caption=table.note or None, caption_justify="left")
    for i in keep:
        fit = max([cells[i], *(len(word) for word in table.headers[i].split())]) if narrow else None
        rt.add_column(table.headers[i], justify="left" if i == 0 else "right", overflow="fold", width=fit)
    for row in table.rows:
        rt.add_row(*(row[i] for i in keep))
    return rt


def _pct(stat) -> str:
    return stat.format(".1f", scale=100, unit="%")


def value_text(value: Any, fmt: str = ".4g") -> str:
    """A hyperparameter's value as a cell: floats in ``fmt``, tuples as ``(0.9, 0.999)``, anything else as str."""
    if isinstance(value, float):
        return format(value, fmt)
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(value_text(v, fmt) for v in value) + ")"
    return str(value)


def hyperparameter_text(hyperparameters: Mapping[str, Any]) -> str:
    """``"lr=0.001, betas=(0.9, 0.999)"``: every value at full ``g`` precision."""
    return ", ".join(f"{k}={value_text(v, 'g')}" for k, v in hyperparameters.items())


SHARED_NOTE = ("“pass of K”: trained in one vectorized pass with K − 1 other runs, whose seconds, steps/s and "
               "time to target are the pass's, the same for all K (descentlab compare --no-vectorize times each "
               "run alone)")


def shared_note(g: GroupSummary) -> str:
    """`` (pass of K)`` after a timing of runs that shared a vectorized pass, else nothing."""
    return f" (pass of {g.shared_by})" if g.shared_by > 1 else ""


def summary_table(groups: Sequence[GroupSummary]) -> Table:
    """The headline table: one row per group, mean ± std over seeds."""
    target = next((g.target for g in groups if g.target is not None), None)
    by_loss = any(g.metric == "loss" for g in groups)  # regression: the losses are the measure, no accuracies
    if by_loss:
        ttt = f"to val loss ≤ {target:.4g}" if target is not None else "to target"
        measures = ("final val loss", "best val loss", "final test loss")
    else:
        ttt = f"to {target:.0%} val acc" if target is not None else "to target"
        measures = ("final val acc", "best val acc", "final test acc")
    headers = ("optimizer", "batch", "lr", "seeds", "final train loss", *measures, f"epochs {ttt}",
               f"seconds {ttt}", "s / epoch", "steps / s", "state memory", "diverged")
    rows = []
    for g, label in zip(groups, group_labels(groups)):
        reached = f" ({g.reached}/{g.n_runs})" if target is not None else ""
        values = ((g.final_val_loss.format(".4g"), g.best_val_loss.format(".4g"), g.final_test_loss.format(".4g"))
                  if by_loss else (_pct(g.final_val_acc), _pct(g.best_val_acc), _pct(g.final_test_acc)))
        rows.append((
            label, str(g.batch_size), value_text(g.lr) if g.lr is not None else "–", str(g.n_runs),
            g.final_train_loss.format(".3f"), *values,
            (g.epochs_to_target.format(".2g") if g.reached else "never") + reached if target is not None else "–",
            g.seconds_to_target.format(".3g") if g.reached else "–",
            g.seconds_per_epoch.format(".2g") + shared_note(g), g.steps_per_s.format(".3g"),
            format_bytes(g.state_bytes.mean),
            f"{g.diverged}/{g.n_runs}" + (f" (+{g.failed} failed)" if g.failed else ""),
        ))
    note = "mean ± sample std over the seeds that finished; diverged runs are counted, not averaged"
    if any(g.shared_by > 1 for g in groups):
        note += "; " + SHARED_NOTE
    # a terminal leaves out the lr (in the hyperparameters), the seconds to target and the steps / s
    return Table("Summary", headers, tuple(rows), note, brief=(0, 1, 3, 4, 5, 6, 7, 8, 10, 12, 13))


def hyperparameter_table(groups: Sequence[GroupSummary]) -> Table:
    """Resolved hyperparameters of each group (the union of names as columns); with an optimizer that is not
    descentlab's (named by module or file), a last column with its code's fingerprint (the first 12 hex digits of
    the SHA-256 that is part of each run's identity)."""
    names = list(dict.fromkeys(name for g in groups for name in g.hyperparameters))
    code = any(g.optimizer_code for g in groups)
    rows = tuple((scheduled_label(g.optimizer, g.schedule), str(g.batch_size),
                  *(value_text(g.hyperparameters[n]) if n in g.hyperparameters else "" for n in names),
                  *((f"sha256 {g.optimizer_code[:12]}" if g.optimizer_code else "descentlab",) if code else ()))
                 for g in groups)
    return Table("Resolved hyperparameters", ("optimizer", "batch", *names, *(("code",) if code else ())), rows)


def tuning_table(sweeps: Sequence[SweepSummary], labels: Sequence[str] | None = None, *, warnings: bool = True
                 ) -> Table:
    """Tuning budget and the learning rate each optimizer chose on validation; ``labels`` name the rows (default:
    each summary's own label). With ``warnings``, the note also says which chosen rate is at the edge of its grid
    (:func:`~descentlab.report.summary.edge_warning`)."""
    rows, labels = [], list(labels or [s.label for s in sweeps])
    for s, label in zip(sweeps, labels):
        lrs = [p.lr for p in s.points]
        rows.append((
            label, str(s.batch_size), str(s.trials), str(s.runs),
            f"{min(lrs):.3g} … {max(lrs):.3g}" if lrs else "–",
            f"{s.best_lr:.3g}" if s.best_lr is not None else "–",
            *((s.best_val_loss.format(".4g"), s.test_loss_at_best.format(".4g")) if s.metric == "loss"
              else (_pct(s.best_val_acc), _pct(s.test_acc_at_best))),
            str(sum(p.diverged for p in s.points)),
        ))
    measure = "loss" if any(s.metric == "loss" for s in sweeps) else "acc"
    headers = ("optimizer", "batch", "trials", "runs", "lr range", "chosen lr", f"val {measure} at chosen lr",
               f"test {measure} at chosen lr", "diverged runs")
    how = "lowest mean final val loss" if measure == "loss" else "mean final val acc"
    edges = [w for s, label in zip(sweeps, labels) if (w := edge_warning(s, label))] if warnings else []
    return Table("Tuning budget and chosen learning rate", headers, tuple(rows),
                 "; ".join([f"the lr is chosen on the validation split ({how} over seeds); test is only reported",
                            *(f"warning: {w}" for w in edges)]))


def budget_table(data: ExperimentData) -> Table:
    """For a comparison without a sweep: trials and runs per optimizer (the tuning budget is the defaults)."""
    rows = []
    for name in data.optimizers:
        runs = [r for r in data.runs if r.optimizer == name]
        trials = len({(str(r.batch_size), str(sorted(r.hyperparameters.items())), r.schedule) for r in runs})
        rows.append((name, str(trials), str(len(runs)), ", ".join(str(s) for s in sorted({r.seed for r in runs}))))
    return Table("Tuning budget and seeds", ("optimizer", "configurations", "runs", "seeds"), tuple(rows),
                 UNTUNED)


# What a comparison without a search is, said wherever its results are shown (console and report).
UNTUNED = ("no hyperparameter search: each configuration ran once per seed at the hyperparameters shown (the "
           "preset's defaults unless the command set them), so an optimizer that trails here may only need another "
           "learning rate; `descentlab sweep --optimizers NAMES --lr 1e-4..1` chooses each one's on validation")


def diverged_table(data: ExperimentData) -> Table:
    """Every run that diverged or failed, with its step (and a failed run's error: what its code raised)."""
    rows = []
    for r in data.runs:
        if r.status not in ("diverged", "failed"):
            continue
        last = r.trained_epochs[-1]["epoch"] if r.trained_epochs else "–"
        error = (r.run.summary or {}).get("error") if isinstance(r.run.summary, dict) else None
        rows.append((str(r.run.id), scheduled_label(r.optimizer, r.schedule), str(r.seed), batch_label(r.batch_size),
                     value_text(r.lr) if r.lr is not None else "–", r.status,
                     str(r.run.diverged_step) if r.run.diverged_step is not None else "–", str(last),
                     str(error) if error else "–"))
    headers = ("run", "optimizer", "seed", "batch", "lr", "status", "step", "last stored epoch", "error")
    return Table("Diverged and failed runs", headers, tuple(rows))


def environment_table(env: Mapping[str, Any]) -> Table:
    """Library versions first, then the machine."""
    rows = []
    versions = env.get("versions")
    if isinstance(versions, Mapping):
        rows += [(name, str(v)) for name, v in versions.items()]
    rows += [(k, value_text(v)) for k, v in env.items() if k != "versions" and v is not None]
    return Table("Environment", ("", ""), tuple(rows))
