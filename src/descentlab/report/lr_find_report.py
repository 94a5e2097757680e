"""The report of an ``lr-find`` experiment: the range-test figure and the per-seed suggestions, from the store."""

from __future__ import annotations

from typing import Any

from descentlab.report import plots
from descentlab.report.data import ExperimentData
from descentlab.report.html import Figure, Report
from descentlab.report.tables import Table, environment_table


def _lr(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def build_lr_find_report(store: Any, data: ExperimentData, *, dpi: int = 100) -> Report:
    from descentlab.experiments.lr_find import load
    from descentlab.report.lr_find_plot import lr_find_figure

    result = load(store, data.experiment.id)
    s = result.suggestion
    suggestion = Table(
        "Suggested learning-rate range",
        ("optimizer", "batch", "seeds", "lower (steepest descent)", "upper", "lr at minimum", "note"),
        ((result.optimizer, str(result.batch_size), str(len(result.curves)), _lr(s.lower), _lr(s.upper),
          _lr(s.min_lr), s.note or "–"),),
        "a range, not a point: a single suggested point is known to be unstable across seeds")
    seeds = Table(
        "Per seed", ("seed", "steepest lr", "lr at minimum", "own range", "stopped at step"),
        tuple((str(c.seed), _lr(c.suggestion.steepest_lr), _lr(c.suggestion.min_lr),
               f"{_lr(c.suggestion.lower)} … {_lr(c.suggestion.upper)}",
               "–" if c.stop_step is None else str(c.stop_step)) for c in result.curves))
    hyper = Table("Resolved hyperparameters", tuple(result.hyperparameters),
                  (tuple(str(v) for v in result.hyperparameters.values()),))
    fig = lr_find_figure(result)
    figure = Figure("LR range test", "Smoothed training loss as the learning rate grows exponentially; median "
                    "over seeds with the min–max band, the suggested range shaded.", plots.png_bytes(fig, dpi=dpi))
    return Report(data=data, groups=[], sweeps=[], tables=[suggestion, seeds, hyper,
                                                           environment_table(data.experiment.env)],
                  figures=[figure], colors=plots.optimizer_colors(data.optimizers))
