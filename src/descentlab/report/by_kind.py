"""The report of any stored experiment, built by the builder its kind declares (:data:`descentlab.kinds.KINDS`,
``layout``): the learning-rate range test's for ``lr-range``, the benchmark's for ``benchmark``, else the
compare/sweep report of :mod:`.html`. The command line (``descentlab report``) and the Python API both call this,
so an experiment's report is the same whichever asks for it."""

from __future__ import annotations

from typing import Any

from descentlab.kinds import layout_of
from descentlab.report.data import ExperimentData
from descentlab.report.html import Report, build_report


def layout(data: ExperimentData) -> str | None:
    """The declared layout of the experiment's kind (``None`` for a kind this version does not know)."""
    return layout_of(data.experiment.kind)


def build(store: Any, data: ExperimentData, *, dpi: int = 100) -> Report:
    """The report of ``data`` (read from ``store``), by its kind's layout."""
    if layout(data) == "lr-range":
        from descentlab.report.lr_find_report import build_lr_find_report

        return build_lr_find_report(store, data, dpi=dpi)
    if layout(data) == "benchmark":
        from descentlab.report.benchmark import build_benchmark_report

        return build_benchmark_report(data, dpi=dpi)
    return build_report(data, dpi=dpi)
