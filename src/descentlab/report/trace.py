"""Optimizer paths on a test function, shown: the per-step log, the summary table and the contour picture.

Everything here takes paths that were already traced (:class:`~descentlab.trajectories.Traced`, made by
:mod:`descentlab.experiments.trace`) and runs no optimizer. The drawing functions return a matplotlib ``Figure``
in the house style (:mod:`.style`); :mod:`descentlab.report.trace_gif` animates the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from descentlab.report import style
from descentlab.report.tables import Table
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import REACHED, Traced, steps_to_minimum


def _fmt_point(x: np.ndarray) -> str:
    return f"{x[0]:.6g}" if len(x) == 1 else "(" + ", ".join(f"{v:.6g}" for v in x) + ")"


def iteration_lines(traced: Traced) -> list[str]:
    """The tutorial's log, one line per update: ``Iteration 1: x = 2.4, f(x) = 5.76``."""
    pos, val = traced.positions, traced.values
    return [f"Iteration {i}: x = {_fmt_point(pos[i])}, f(x) = {val[i]:.6g}" for i in range(1, len(pos))]


def summary_table(function: TestFunction, traced: Sequence[Traced]) -> Table:
    """One row per path: its lr, where it ended, when it first came within :data:`REACHED` of a minimum."""
    picked = any(t.lr_picked for t in traced)
    headers = ("optimizer", "lr (best of grid)" if picked else "lr", "final x", "final f",
               f"steps to ‖x − x*‖ < {REACHED:g}", "diverged")
    rows = []
    for t in traced:
        pos, reached = t.positions, steps_to_minimum(function, t)
        final_x = _fmt_point(pos[-1]) if len(pos) else "—"
        final_f = f"{t.values[-1]:.4g}" if len(pos) and not t.diverged else "—"
        diverged = f"at step {t.trajectory.diverged_at}" if t.diverged else "no"
        rows.append((t.optimizer, f"{t.lr:.3g}", final_x, final_f, "—" if reached is None else str(reached),
                     diverged))
    return Table(f"{function.name}: {function.description}", headers, tuple(rows))


# ---------------------------------------------------------------------------------------------------- drawing

def grid_values(function: TestFunction, n: int = 300) -> tuple[np.ndarray, ...]:
    """``(X, Y, Z)`` over the plot window for a 2-D function, ``(x, f(x))`` for a 1-D one."""
    axes = [torch.linspace(lo, hi, n if function.dim == 2 else 4 * n, dtype=torch.float64)
            for lo, hi in function.bounds]
    mesh = torch.meshgrid(*axes, indexing="xy")
    with torch.no_grad():
        z = function.fn(torch.stack(mesh))
    return (*(m.numpy() for m in mesh), z.numpy())


def draw_landscape(ax: Axes, function: TestFunction) -> None:
    """Contours (or the curve of a 1-D function), the minima starred, the window set to the bounds."""
    if function.dim == 1:
        x, y = grid_values(function)
        ax.plot(x, y, color=style.LANDSCAPE, lw=1.5, zorder=1)
        ax.set(xlabel="x", ylabel="f(x)")
    else:
        X, Y, Z = grid_values(function)
        if function.log_contours:
            shifted = Z - function.min_value
            lo = max(float(np.percentile(shifted, 0.5)), float(shifted.max()) * 1e-7)
            levels = np.geomspace(lo, float(shifted.max()), 20)
            ax.contourf(X, Y, shifted, levels=levels, norm=LogNorm(), cmap="Greys_r", alpha=0.35, extend="min",
                        zorder=0)
            ax.contour(X, Y, shifted, levels=levels, norm=LogNorm(), cmap="Greys", linewidths=0.5, alpha=0.6,
                       zorder=0)
        else:
            ax.contourf(X, Y, Z, levels=20, cmap="Greys_r", alpha=0.35, zorder=0)
            ax.contour(X, Y, Z, levels=20, cmap="Greys", linewidths=0.5, alpha=0.6, zorder=0)
        ax.set(xlabel="x", ylabel="y", aspect="equal")
    for m in function.minima:
        xy = (m[0], function.min_value) if function.dim == 1 else m
        ax.plot(*xy, marker="*", ms=16, color=style.MINIMUM_STAR, mec="black", mew=0.8, ls="none", zorder=5)
    ax.set_xlim(*function.bounds[0])
    if function.dim == 2:
        ax.set_ylim(*function.bounds[1])
    ax.set_title(f"{function.name}: {function.description}", fontsize=style.SUBTITLE)


def path_xy(function: TestFunction, traced: Traced, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the picture shows of a path: (x, y) on a contour plot, (x, f(x)) on a 1-D curve."""
    pos, val = traced.positions[:upto], traced.values[:upto]
    return (pos[:, 0], val) if function.dim == 1 else (pos[:, 0], pos[:, 1])


def mark_start(ax: Axes, function: TestFunction, traced: Sequence[Traced]) -> None:
    """The common start point, a white disc labelled ``start``."""
    if traced:
        x, y = path_xy(function, traced[0], 1)
        ax.plot(x, y, marker="o", ms=9, color="white", mec="black", mew=1.5, ls="none", zorder=6, label="start")


def new_figure(function: TestFunction, n_paths: int, dpi: int = 100) -> tuple[Figure, Axes]:
    """A figure with room on the right for the legend, so that it never covers a path."""
    fig = style.figure(8.4 if function.dim == 2 else 8.8, 5.6, dpi)
    return fig, fig.add_subplot()


def plot_paths(function: TestFunction, traced: Sequence[Traced], dpi: int = 100) -> Figure:
    """The landscape with one line per optimizer (markers at ~10 points), the start and every end marked."""
    fig, ax = new_figure(function, len(traced), dpi)
    draw_landscape(ax, function)
    for i, t in enumerate(traced):
        x, y = path_xy(function, t)
        every = max(1, (len(x) - 1) // 10)
        s = style.path_style(i)
        ax.plot(x, y, lw=1.6, ms=5, markevery=every, mec="white", mew=0.5, label=t.label, **s)
        ax.plot(x[-1:], y[-1:], marker=s["marker"], ms=10, color=s["color"], mec="black", mew=1.0, ls="none",
                zorder=4 - i / 100)
    mark_start(ax, function, traced)
    fig.legend(loc="outside right upper", fontsize=style.LEGEND, frameon=False)
    return fig
