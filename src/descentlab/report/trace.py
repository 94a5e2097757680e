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
from descentlab.schedules.spec import scheduled_label
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import REACHED, Traced, steps_to_minimum


def _fmt_point(x: np.ndarray) -> str:
    return f"{x[0]:.6g}" if len(x) == 1 else "(" + ", ".join(f"{v:.6g}" for v in x) + ")"


def iteration_lines(traced: Traced) -> list[str]:
    """The tutorial's log, one line per update: ``Iteration 1: x = 2.4, f(x) = 5.76``."""
    pos, val = traced.positions, traced.values
    return [f"Iteration {i}: x = {_fmt_point(pos[i])}, f(x) = {val[i]:.6g}" for i in range(1, len(pos))]


def verbose_lines(traced: Traced) -> list[str]:
    """The start, then per update the tutorial's line followed by what made it: the gradient the update used and
    the update itself, ``Iteration 1: x = 2.4, f(x) = 5.76 | gradient 6, update -0.6``.

    The gradient is ``∇f`` at the previous point (at the interpolated point for schedule-free optimizers, whose
    recorded point is the averaged one) and the update is the new point minus the previous one, so that
    ``x_k = x_{k−1} + update``; plain gradient descent's update is ``−lr × gradient``.
    """
    pos, val = traced.positions, traced.values
    grads = traced.trajectory.gradients
    g = None if grads is None else np.asarray(grads, dtype=np.float64).reshape(grads.shape[0], -1)
    lines = [f"Start: x = {_fmt_point(pos[0])}, f(x) = {val[0]:.6g}"] if len(pos) else []
    for i, line in enumerate(iteration_lines(traced), start=1):
        gradient = "" if g is None or i > len(g) else f"gradient {_fmt_point(g[i - 1])}, "
        lines.append(f"{line} | {gradient}update {_fmt_point(pos[i] - pos[i - 1])}")
    if traced.diverged:
        rising = "rising" if len(val) and val[-1] > val[0] else "falling"
        lines.append(f"Diverged at step {traced.diverged_at}" + (
            f" (left the plot, f {rising})" if traced.escaped_at == traced.diverged_at else " (a non-finite value)"))
    return lines


def divergence_text(traced: Traced) -> str:
    """``no``, or ``diverged at step k`` with why: a non-finite point or value, or the path left the plot."""
    if not traced.diverged:
        return "no"
    why = "left the plot" if traced.escaped_at == traced.diverged_at else "non-finite"
    return f"diverged at step {traced.diverged_at} ({why})"


def summary_table(function: TestFunction, traced: Sequence[Traced]) -> Table:
    """One row per path: its lr, where it ended, when it first came within :data:`REACHED` of a minimum, and
    whether (and at which step) it diverged."""
    picked = any(t.lr_picked for t in traced)
    headers = ("optimizer", "lr (best of grid)" if picked else "lr", "final x", "final f",
               f"steps to ‖x − x*‖ < {REACHED:g}", "divergence")
    rows = []
    for t in traced:
        pos, reached = t.positions, steps_to_minimum(function, t)
        final_x = _fmt_point(pos[-1]) if len(pos) else "—"
        final_f = f"{t.values[-1]:.4g}" if len(pos) and not t.diverged else "—"
        rows.append((scheduled_label(t.optimizer, t.schedule), f"{t.lr:.3g}", final_x, final_f,
                     "—" if reached is None else str(reached), divergence_text(t)))
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
        margin = 0.05 * float(y.max() - y.min())  # the curve's range: a diverging path must not rescale it
        ax.set(xlabel="x", ylabel="f(x)", ylim=(float(y.min()) - margin, float(y.max()) + margin))
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


def exit_point(ax: Axes, function: TestFunction, traced: Traced) -> tuple[float, float] | None:
    """Where a diverged path leaves the picture: the point at which its drawn segment into the divergence
    step crosses the axes' window, or the last point it reached, held to the window (``None`` if it did not
    diverge). The × of :func:`mark_divergence` goes there."""
    k = traced.diverged_at
    if k is None:
        return None
    x, y = path_xy(function, traced)
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    last = min(k, len(x)) - 1
    a = np.array([x[last], y[last]]) if last >= 0 else np.array([np.nan, np.nan])
    inside = bool(np.all(np.isfinite(a)) and x0 <= a[0] <= x1 and y0 <= a[1] <= y1)
    if inside and k < len(x):  # the segment a → b leaves the box at the smallest exit parameter
        d = np.array([x[k], y[k]]) - a
        t = 1.0
        for di, ai, lo, hi in ((d[0], a[0], x0, x1), (d[1], a[1], y0, y1)):
            if di > 0:
                t = min(t, (hi - ai) / di)
            elif di < 0:
                t = min(t, (lo - ai) / di)
        a = a + t * d
    elif not inside and np.all(np.isfinite(a)):
        a = np.clip(a, [x0, y0], [x1, y1])
    return (float(a[0]), float(a[1])) if np.all(np.isfinite(a)) else None


def drawn_xy(ax: Axes, function: TestFunction, traced: Traced,
             upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The polyline drawn for a path (its first ``upto`` points): :func:`path_xy`, except that a diverged path
    stops at its :func:`exit_point` (what lies beyond would cut across the picture)."""
    x, y = path_xy(function, traced, upto)
    k, exit_at = traced.diverged_at, exit_point(ax, function, traced)
    if k is None or len(x) <= k:
        return x, y
    if exit_at is None:
        return x[:k], y[:k]
    return np.append(x[:k], exit_at[0]), np.append(y[:k], exit_at[1])


def cross_style(i: int) -> dict:
    """The × of a diverged path, in the path's colour."""
    color = style.path_style(i)["color"]
    return {"marker": "X", "ms": 13, "color": color, "mec": "black", "mew": 1.0, "ls": "none", "zorder": 6}


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
    """The landscape with one line per optimizer (markers at ~10 points), the start and every end marked, and an
    × where a diverged path leaves the picture."""
    fig, ax = new_figure(function, len(traced), dpi)
    draw_landscape(ax, function)
    for i, t in enumerate(traced):
        x, y = drawn_xy(ax, function, t)
        every = max(1, (len(x) - 1) // 10)
        s = style.path_style(i)
        ax.plot(x, y, lw=1.6, ms=5, markevery=every, mec="white", mew=0.5, label=t.label, **s)
        ax.plot(x[-1:], y[-1:], marker=s["marker"], ms=10, color=s["color"], mec="black", mew=1.0, ls="none",
                zorder=4 - i / 100)
    for i, t in enumerate(traced):
        exit_at = exit_point(ax, function, t)
        if exit_at is not None:
            ax.plot(*exit_at, **cross_style(i))
    mark_start(ax, function, traced)
    add_legend(fig)
    return fig


def add_legend(fig: Figure) -> None:
    """The legend outside on the right, the figure widened when needed so that nothing is cut off.

    The axes keep their aspect (contour plots are ``equal``), so constrained layout cannot narrow them to make room
    for a long legend (long optimizer names, many paths, a schedule in the label): it pushed the y label and tick
    labels off the figure's left edge. Widening the figure by what sticks out keeps the picture whole."""
    fig.legend(loc="outside right upper", fontsize=style.LEGEND, frameon=False)
    for _ in range(3):  # the layout changes with the width: a few rounds settle it
        fig.draw_without_rendering()
        box = fig.get_tightbbox()  # inches
        overflow = max(0.0, -box.x0) + max(0.0, box.x1 - fig.get_figwidth())
        if overflow < 0.01:
            break
        fig.set_figwidth(fig.get_figwidth() + overflow + 0.1)
