"""Optimizer paths on the test functions of :mod:`descentlab.tasks.functions`: run them, tabulate, draw them.

Every path is :func:`descentlab.minimize` (the registered optimizer's own rule, nothing re-derived).
Unless a learning rate is given, each optimizer gets the best of :data:`LR_GRID` on the function: the one with
the lowest final value among the runs that did not diverge. The drawing functions take the traced paths and
return a matplotlib ``Figure``; :mod:`descentlab.report.trace_gif` animates the same picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from rich.table import Table

from descentlab.errors import UserError
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import Trajectory, minimize

LR_GRID: tuple[float, ...] = tuple(float(f"{v:.3g}") for v in np.logspace(-4, 0, 10))  # 1e-4 … 1
DEFAULT_STEPS = 500
REACHED = 1e-3  # "reached a minimum": within this distance of one
COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#000075",
          "#808000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">")


@dataclass(frozen=True)
class Traced:
    """One optimizer's path; ``lr_picked`` when ``lr`` was chosen from the grid."""

    optimizer: str
    lr: float
    trajectory: Trajectory
    lr_picked: bool = False

    @property
    def label(self) -> str:
        diverged = ", diverged" if self.diverged else ""
        return f"{self.optimizer} (lr={self.lr:.3g}{diverged})"

    @property
    def diverged(self) -> bool:
        return self.trajectory.diverged_at is not None

    @property
    def positions(self) -> np.ndarray:
        """``[steps + 1, dim]`` float64, cut at the first non-finite point."""
        pos = np.asarray(self.trajectory.positions, dtype=np.float64)
        pos = pos.reshape(pos.shape[0], -1)
        bad = ~np.isfinite(pos).all(axis=1)
        return pos[: int(np.argmax(bad))] if bad.any() else pos

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.trajectory.values, dtype=np.float64)[: len(self.positions)]

    @property
    def final_value(self) -> float:
        """The last value, ``inf`` when the run diverged (so that it never wins a comparison)."""
        value = float(np.asarray(self.trajectory.values, dtype=np.float64)[-1])
        return math.inf if self.diverged or not math.isfinite(value) else value


def check_start(function: TestFunction, start: Sequence[float] | None) -> tuple[float, ...]:
    start = tuple(function.start if start is None else start)
    if len(start) != function.dim:
        raise UserError(f"--start has {len(start)} coordinate(s) but {function.name} takes {function.dim}")
    return start


def run(function: TestFunction, optimizer: str, lr: float, steps: int,
        start: Sequence[float] | None = None) -> Traced:
    """One path (``minimize`` optimizes the point as a ``1 × dim`` matrix, so Muon acts on it as a matrix)."""
    x0 = torch.tensor(check_start(function, start), dtype=torch.float64)
    path = minimize(function.fn, x0, optimizer=optimizer, lr=lr, steps=steps)
    return Traced(optimizer, lr, path)


def pick_lr(function: TestFunction, optimizer: str, steps: int, start: Sequence[float] | None = None,
            grid: Sequence[float] = LR_GRID) -> Traced:
    """The run with the lowest final value over ``grid`` (diverged runs lose; ties go to the smaller lr)."""
    runs = [run(function, optimizer, lr, steps, start) for lr in sorted(grid)]
    best = min(runs, key=lambda r: r.final_value)  # all diverged: the smallest lr, marked diverged
    return Traced(best.optimizer, best.lr, best.trajectory, lr_picked=True)


def trace(function: TestFunction, optimizers: Sequence[str], steps: int = DEFAULT_STEPS, lr: float | None = None,
          start: Sequence[float] | None = None, grid: Sequence[float] = LR_GRID) -> list[Traced]:
    """Each optimizer from the same start for the same number of steps, at ``lr`` or the best of ``grid``."""
    start = check_start(function, start)
    if lr is None:
        return [pick_lr(function, name, steps, start, grid) for name in optimizers]
    return [run(function, name, lr, steps, start) for name in optimizers]


def steps_to_minimum(function: TestFunction, traced: Traced, tol: float = REACHED) -> int | None:
    """The first step whose point is within ``tol`` of a known minimum, or ``None``."""
    if not function.minima:
        return None
    pos = traced.positions
    dist = np.min([np.linalg.norm(pos - np.asarray(m), axis=1) for m in function.minima], axis=0)
    hits = np.flatnonzero(dist < tol)
    return int(hits[0]) if hits.size else None


def _fmt_point(x: np.ndarray) -> str:
    return f"{x[0]:.6g}" if len(x) == 1 else "(" + ", ".join(f"{v:.6g}" for v in x) + ")"


def iteration_lines(traced: Traced) -> list[str]:
    """The tutorial's log, one line per update: ``Iteration 1: x = 2.4, f(x) = 5.76``."""
    pos, val = traced.positions, traced.values
    return [f"Iteration {i}: x = {_fmt_point(pos[i])}, f(x) = {val[i]:.6g}" for i in range(1, len(pos))]


def summary_table(function: TestFunction, traced: Sequence[Traced]) -> Table:
    table = Table(title=f"{function.name}: {function.description}")
    picked = any(t.lr_picked for t in traced)
    for header in ("optimizer", "lr (best of grid)" if picked else "lr", "final x", "final f",
                   f"steps to ‖x − x*‖ < {REACHED:g}", "diverged"):
        table.add_column(header, justify="left" if header in ("optimizer", "final x") else "right")
    for t in traced:
        pos, reached = t.positions, steps_to_minimum(function, t)
        final_x = _fmt_point(pos[-1]) if len(pos) else "—"
        final_f = f"{t.values[-1]:.4g}" if len(pos) and not t.diverged else "—"
        diverged = f"at step {t.trajectory.diverged_at}" if t.diverged else "no"
        table.add_row(t.optimizer, f"{t.lr:.3g}", final_x, final_f, "—" if reached is None else str(reached),
                      diverged)
    return table


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
        ax.plot(x, y, color="0.55", lw=1.5, zorder=1)
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
        ax.plot(*xy, marker="*", ms=16, color="gold", mec="black", mew=0.8, ls="none", zorder=5)
    ax.set_xlim(*function.bounds[0])
    if function.dim == 2:
        ax.set_ylim(*function.bounds[1])
    ax.set_title(f"{function.name}: {function.description}", fontsize=10)


def path_xy(function: TestFunction, traced: Traced, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the picture shows of a path: (x, y) on a contour plot, (x, f(x)) on a 1-D curve."""
    pos, val = traced.positions[:upto], traced.values[:upto]
    return (pos[:, 0], val) if function.dim == 1 else (pos[:, 0], pos[:, 1])


def style(i: int) -> dict:
    """Color, marker and line style of the ``i``-th path. Every other path is dashed, and earlier paths are
    drawn above later ones, so that two paths that coincide (momentum and nesterov often do) both show."""
    return {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)], "ls": "--" if i % 2 else "-",
            "zorder": 3 - i / 100}


def new_figure(function: TestFunction, n_paths: int, dpi: int = 100) -> tuple[Figure, Axes]:
    """A figure with room on the right for the legend, so that it never covers a path."""
    fig = Figure(figsize=(8.4 if function.dim == 2 else 8.8, 5.6), dpi=dpi, layout="constrained")
    return fig, fig.add_subplot()


def plot_paths(function: TestFunction, traced: Sequence[Traced], dpi: int = 100) -> Figure:
    """The landscape with one line per optimizer (markers at ~10 points), the start and every end marked."""
    fig, ax = new_figure(function, len(traced), dpi)
    draw_landscape(ax, function)
    for i, t in enumerate(traced):
        x, y = path_xy(function, t)
        every = max(1, (len(x) - 1) // 10)
        s = style(i)
        ax.plot(x, y, lw=1.6, ms=5, markevery=every, mec="white", mew=0.5, label=t.label, **s)
        ax.plot(x[-1:], y[-1:], marker=s["marker"], ms=10, color=s["color"], mec="black", mew=1.0, ls="none",
                zorder=4 - i / 100)
    if traced:
        x, y = path_xy(function, traced[0], 1)
        ax.plot(x, y, marker="o", ms=9, color="white", mec="black", mew=1.5, ls="none", zorder=6, label="start")
    fig.legend(loc="outside right upper", fontsize=9, frameon=False)
    return fig
