"""The trace experiment: each optimizer's path on a test function of :mod:`descentlab.tasks.functions`, from the
same start for the same number of steps.

Every path is :func:`descentlab.minimize` (the registered optimizer's own rule, nothing re-derived). Unless a
learning rate is given, each optimizer gets the best of :data:`LR_GRID` on the function: the one with the lowest
final value among the runs that did not diverge (ties go to the smaller rate); :func:`edge_warnings` says when
that pick sits at an edge of the grid. Several given learning rates trace each optimizer once per rate. A run
diverged when a point or value became non-finite or when it ran away from the plot window for good, climbing or an
order of magnitude off it (down a function unbounded below: :func:`~descentlab.trajectories.escape_step`). With a
schedule (:class:`~descentlab.schedules.spec.ScheduleSpec`), each learning rate is the schedule's peak and its
horizon the number of steps. The paths come back as
:class:`~descentlab.trajectories.Traced`; :mod:`descentlab.report.trace` tabulates and draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from descentlab.errors import UserError
from descentlab.experiments.runner import error_text
from descentlab.schedules.spec import ScheduleSpec
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import Traced, escape_step, minimize

LR_GRID: tuple[float, ...] = tuple(float(f"{v:.3g}") for v in np.logspace(-4, 0, 10))  # 1e-4 … 1
DEFAULT_STEPS = 500


def check_start(function: TestFunction, start: Sequence[float] | None) -> tuple[float, ...]:
    start = tuple(function.start if start is None else start)
    if len(start) != function.dim:
        raise UserError(f"--start has {len(start)} coordinate(s) but {function.name} takes {function.dim}")
    with torch.no_grad():  # a start so far out that f overflows leaves no path to trace (not a learning-rate issue)
        value = float(function.fn(torch.tensor(start, dtype=torch.float64)))
    if not np.isfinite(value):
        shown = ",".join(f"{v:g}" for v in start)
        raise UserError(f"--start {shown}: f(x) = {value:g} there; give a start point where {function.name} is finite")
    return start


def run(function: TestFunction, optimizer: str, lr: float, steps: int,
        start: Sequence[float] | None = None, schedule: ScheduleSpec | None = None) -> Traced:
    """One path (``minimize`` optimizes the point as a ``1 × dim`` matrix, so Muon acts on it as a matrix); with
    ``schedule``, resolved at peak ``lr`` over ``steps`` updates."""
    x0 = torch.tensor(check_start(function, start), dtype=torch.float64)
    resolved = schedule.resolve(lr, steps) if schedule is not None and steps > 0 else None
    try:
        path = minimize(function.fn, x0, optimizer=optimizer, lr=lr, steps=steps, schedule=resolved)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's optimizer raised: one line naming it, never a traceback
        raise UserError(f"optimizer {optimizer!r} raised on {function.name} at lr {lr:g}: {error_text(exc)}") from None
    return Traced(optimizer, lr, path, escaped_at=escape_step(function, path),
                  schedule=schedule.label if schedule is not None else None)


def pick_lr(function: TestFunction, optimizer: str, steps: int, start: Sequence[float] | None = None,
            grid: Sequence[float] = LR_GRID, schedule: ScheduleSpec | None = None) -> Traced:
    """The run with the lowest final value over ``grid`` (diverged runs lose; ties go to the smaller lr)."""
    runs = [run(function, optimizer, lr, steps, start, schedule) for lr in sorted(grid)]
    best = min(runs, key=lambda r: r.final_value)  # all diverged: the smallest lr, marked diverged
    return Traced(best.optimizer, best.lr, best.trajectory, lr_picked=True, escaped_at=best.escaped_at,
                  schedule=best.schedule)


def trace(function: TestFunction, optimizers: Sequence[str], steps: int = DEFAULT_STEPS,
          lr: float | Sequence[float] | None = None, start: Sequence[float] | None = None,
          grid: Sequence[float] = LR_GRID, schedule: ScheduleSpec | None = None) -> list[Traced]:
    """Each optimizer from the same start for the same number of steps: at the best of ``grid`` (``lr`` None),
    at ``lr``, or once per rate of a sequence ``lr`` (optimizer-major: every rate of the first optimizer first);
    with ``schedule`` (its peak: that lr) when given."""
    start = check_start(function, start)
    if lr is None:
        return [pick_lr(function, name, steps, start, grid, schedule) for name in optimizers]
    lrs = [lr] if isinstance(lr, (int, float)) else list(lr)
    return [run(function, name, rate, steps, start, schedule) for name in optimizers for rate in lrs]


def edge_warnings(traced: Sequence[Traced], grid: Sequence[float] = LR_GRID) -> list[str]:
    """One warning per picked learning rate that sits at an edge of ``grid``: the best may lie beyond it.

    The top edge suggests the next rates up (×3, ×10, ×30), the bottom edge the next ones down, as a ``--lr`` list
    that traces them side by side; a pick where every rate diverged says so.
    """
    lo, hi = min(grid), max(grid)
    out = []
    for t in traced:
        if not t.lr_picked or lo == hi or t.lr not in (lo, hi):
            continue
        searched = f"the searched grid {lo:g} … {hi:g}"
        up = t.lr == hi and not t.diverged
        if t.diverged:
            what = f" diverged at every learning rate of {searched}"
        else:
            what = f"'s learning rate {t.lr:g} is the {'largest' if up else 'smallest'} of {searched}"
        rates = ",".join(f"{t.lr * f:.3g}" for f in ((1, 3, 10, 30) if up else (1 / 30, 1 / 10, 1 / 3, 1)))
        out.append(f"warning: {t.optimizer}{what}; a {'larger' if up else 'smaller'} one may be better: compare "
                   f"with --optimizers {t.optimizer} --lr {rates}")
    return out


