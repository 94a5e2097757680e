"""The report of an ``lr-find`` experiment, from the store alone: the range-test figure, the suggested range and
each seed's own suggestion.

:func:`load` rebuilds the :class:`~descentlab.lr_range.LRFindResult` from the stored runs (one per seed, its updates
in the store's ``steps`` table) with the same arithmetic that made it (:mod:`descentlab.lr_range`);
:func:`suggestion_table` and :func:`seed_table` are the tables that the report and ``descentlab lr-find`` both show.
"""

from __future__ import annotations

from typing import Any

from descentlab.errors import UserError
from descentlab.kinds import layout_of
from descentlab.lr_range import CheckedRate, LRFindResult, stored_result
from descentlab.report import plots, style
from descentlab.report.data import ExperimentData
from descentlab.report.html import Figure, Report
from descentlab.report.tables import Table, environment_table
from descentlab.store import FINISHED


def load(store: Any, experiment_id: int | str) -> LRFindResult:
    """The result of a stored LR range test (an id or ``"last"``) from its finished runs' logged updates;
    UserError for an experiment of another kind."""
    experiment = store.experiment(experiment_id)
    if layout_of(experiment.kind) != "lr-range":
        raise UserError(f"experiment {experiment.id} is of kind {experiment.kind}, not an lr-find")
    finished = [(r.seed, r.config, store.steps(r.id)) for r in store.runs(experiment.id) if r.status in FINISHED]
    return stored_result(experiment.spec, finished)


def _lr(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def suggestion_table(result: LRFindResult) -> Table:
    """The range suggested by the median curve."""
    s = result.suggestion
    return Table(
        "Suggested learning-rate range",
        ("optimizer", "batch", "seeds", "suggested lr", "lower", "upper", "range test's steepest descent",
         "lr at minimum", "note"),
        ((result.optimizer, str(result.batch_size), str(len(result.curves)),
          _lr(s.lr) + (" (checked)" if s.checked else " (steepest descent, unchecked)"), _lr(s.lower), _lr(s.upper),
          _lr(s.steepest_lr), _lr(s.min_lr), s.note or "–"),),
        "a range, not a point: a single suggested point is known to be unstable across seeds")


def check_table(result: LRFindResult) -> Table:
    """The check: per constant rate, each seed's training loss over the last quarter of its short run, their mean,
    and the mean with the neighbouring rates (the pick: the lowest)."""
    picked = result.suggestion.lr if result.suggestion.checked else None

    def loss(value: float) -> str:
        return "diverged" if value == float("inf") else f"{value:.4f}"

    def around(c: CheckedRate) -> str:  # +inf with a finite mean: a neighbour diverged, this rate did not
        return "∞ (a neighbour diverged)" if c.smoothed == float("inf") and c.mean != float("inf") else loss(c.smoothed)

    rows = tuple((_lr(c.lr), ", ".join(loss(x) for x in c.scores) or "–", loss(c.mean), around(c),
                  "◀ suggested" if c.lr == picked else "") for c in result.checked)
    return Table(f"Check: short runs of {result.spec.get('check_steps')} updates at constant rates around the "
                 f"range test's {_lr(result.range_test.lr)}",
                 ("lr", "loss of the last quarter, per seed", "mean", "with neighbours", ""), rows,
                 "suggested: the lowest 'with neighbours' (the mean averaged with the rates either side). Short "
                 "runs favour higher rates than long ones (less than the range test does): the suggested range "
                 "reaches down from it")


def seed_table(result: LRFindResult) -> Table:
    """Each seed's own curve under the same rule, and where its test stopped."""
    rows = []
    for c in result.curves:
        s = c.suggestion
        stop = "ran all steps" if c.stop_step is None else f"step {c.stop_step} (lr {c.lrs[c.stop_step]:.3g})"
        rows.append((str(c.seed), _lr(s.lr), _lr(s.min_lr), "–" if s.min_loss is None else f"{s.min_loss:.3f}",
                     f"{_lr(s.lower)} … {_lr(s.upper)}", stop))
    return Table("Per seed (each seed's own curve, same rule)",
                 ("seed", "own lr (steepest)", "lr at minimum", "min loss", "own range", "stopped at"), tuple(rows))


def build_lr_find_report(store: Any, data: ExperimentData, *, dpi: int = 100) -> Report:
    from descentlab.report.lr_find_plot import lr_find_figure

    result = load(store, data.experiment.id)
    hyper = Table("Resolved hyperparameters", tuple(result.hyperparameters),  # none when no seed ran: no row
                  (tuple(str(v) for v in result.hyperparameters.values()),) if result.hyperparameters else ())
    figure = Figure("LR range test", "Training loss (centred moving average) as the learning rate grows "
                    "exponentially; median over seeds with the min–max band, the suggested range shaded"
                    + ("; below, the check: each constant rate's training loss at the end of its short runs."
                       if result.checked else "."),
                    plots.png_bytes(lr_find_figure(result), dpi=dpi))
    return Report(data=data, groups=[], sweeps=[],
                  tables=[suggestion_table(result), *([check_table(result)] if result.checked else []),
                          seed_table(result), hyper, environment_table(data.experiment.env)],
                  figures=[figure], colors=style.optimizer_colors(data.optimizers))
