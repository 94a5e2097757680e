"""The LR range test's figure with a check (:mod:`descentlab.report.lr_find_plot`), on a result made by lr-find's
own arithmetic from synthetic losses: what a user opens must show every checked rate and the suggested lr, and a
title that can be read."""

from __future__ import annotations

import math

import numpy as np

from descentlab import lr_range as lr
from descentlab.report.lr_find_plot import lr_find_figure

SPEC = {"task": "digits-mlp", "start": 1e-7, "end": 10.0, "steps": 100, "check_steps": 8, "seeds": 1}


def _curve() -> lr.SeedCurve:
    """One seed's range test: steepest descent near 1e-6 (close to the schedule's start), minimum near 1e-4."""
    lrs = lr.learning_rates(SPEC["start"], SPEC["end"], SPEC["steps"])
    x = np.log10(lrs)
    loss = 2.0 - np.tanh(2 * (x + 6)) + 5 * np.maximum(0.0, x + 4) ** 2
    return lr.curve(0, [{"step": k, "lr": r, "loss": float(v)} for k, (r, v) in enumerate(zip(lrs, loss))], SPEC)


def _result(optimizer: str = "adam", best_j: float = -20):
    """The check's best lies ``best_j`` quarter decades from the range test's steepest descent (far below: the
    check goes down twice, below the range test's first rate)."""
    curve = _curve()
    anchor = lr.combine(SPEC, optimizer, {}, 32, [curve]).range_test.lr
    checks = {r: [[1.0 + (j - best_j) ** 2 / 100] * 8] for j in range(-12, 13) for r in [anchor * 10 ** (j / 4)]}
    return lr.combine(SPEC, optimizer, {}, 32, [curve], checks)


def test_every_checked_rate_and_the_suggested_lr_are_inside_the_axes():
    """The panels share the range test's x axis, which ended at its first rate: the check's rates below it (and
    the suggested lr, the lowest of them here) were drawn off the figure."""
    result = _result()
    s, rates = result.suggestion, [c.lr for c in result.checked]
    assert s.checked and s.lr == min(rates) < SPEC["start"]  # the case: the pick lies below the range test
    fig = lr_find_figure(result)
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo < min(rates) and max(rates) < hi and lo < s.lower


def test_the_title_does_not_run_into_the_legend():
    """A long optimizer reference (a file path) and the check's words made one title line that ran under the
    legend and off the figure."""
    optimizer = "/home/someone/projects/optimizers/my_optimizer.py:SignSGD(lr=0.01, momentum=0.9)"
    fig = lr_find_figure(_result(optimizer, best_j=1))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    figure = fig.bbox
    assert not title.overlaps(legend)
    assert figure.x0 <= title.x0 and title.x1 <= figure.x1
    text = fig._suptitle.get_text()
    assert optimizer in text.replace("\n", "") and "check: 7 constant rates × 8 updates" in text
    assert math.isfinite(title.height)
