"""The trace experiment: each optimizer's path on a test function of :mod:`descentlab.tasks.functions`, from the
same start for the same number of steps.

Every path is :func:`descentlab.minimize` (the registered optimizer's own rule, nothing re-derived). Unless a
learning rate is given, each optimizer gets the best of :data:`LR_GRID` on the function: the one with the lowest
final value among the runs that did not diverge (ties go to the smaller rate). The paths come back as
:class:`~descentlab.trajectories.Traced`; :mod:`descentlab.report.trace` tabulates and draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from descentlab.errors import UserError
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import Traced, minimize

LR_GRID: tuple[float, ...] = tuple(float(f"{v:.3g}") for v in np.logspace(-4, 0, 10))  # 1e-4 … 1
DEFAULT_STEPS = 500


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


