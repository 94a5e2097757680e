"""Minimize a function of one tensor with any registered optimizer, and keep the whole path.

``minimize`` drives the same ``torch.optim.Optimizer`` classes that users train networks with (by registry
name, or any optimizer class, torch's included): no update rule is written a second time here.

>>> import torch
>>> from descentlab import minimize
>>> path = minimize(lambda x: (x**2).sum(), 3.0, optimizer="sgd", lr=0.1, steps=10)
>>> path.positions.shape, path.values.shape
(torch.Size([11]), torch.Size([11]))
>>> bool(torch.allclose(path.positions, 3.0 * 0.8 ** torch.arange(11.0, dtype=torch.float64)))
True
>>> path = minimize(lambda x: ((x - 1) ** 2).sum(), [0.0, 0.0], optimizer="adam", lr=0.05, steps=500)
>>> [round(v, 3) for v in path.final.tolist()], path.diverged_at
([1.0, 1.0], None)

Step convention: ``positions[k]`` is the point after ``k`` updates (``positions[0]`` is ``x0``) and
``values[k] = fn(positions[k])``. Optimizers that keep an averaged iterate and expose ``train()``/``eval()``
(schedule-free) take gradients at their interpolated point *y*, but the trajectory records the averaged point
*x* (the one to evaluate or report) and ``fn`` there; ``fn`` is then called twice per step. An optimizer whose
``step`` requires a closure (``torch.optim.LBFGS``) is given one that evaluates ``fn`` and its gradient: one of its
steps (several evaluations) is one entry of the path.

:class:`Traced` is one optimizer's path as the trace command shows it (its learning rate, whether that was picked
from a grid, the path cut at its first non-finite point); :func:`steps_to_minimum` says when it got near a
known minimum of a test function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.capabilities import averaged_iterate, takes_closure
from descentlab.schedules.adapter import write_value
from descentlab.validation import finite_point

if TYPE_CHECKING:
    from descentlab.tasks.functions import TestFunction

__all__ = ["Traced", "Trajectory", "escape_step", "minimize", "steps_to_minimum"]

REACHED = 1e-3  # "reached a minimum": within this distance of one
# "Ran off the picture": this many times as far from the plot window's centre as its edge (an order of magnitude).
FAR_OUT = 10.0


@dataclass(frozen=True)
class Trajectory:
    """The path of one optimizer on one function.

    ``positions``: ``[n, *x0.shape]`` and ``values``: ``[n]`` with ``n = steps + 1`` (``x0`` included), or
    ``n = diverged_at + 1`` when the run stopped at the first non-finite position or value (that entry is kept).
    ``hyperparameters`` are the optimizer's resolved ones (defaults filled in). ``gradients[k]`` (shape
    ``[steps, *x0.shape]``) is the gradient that update ``k + 1`` used: ``∇fn(positions[k])``, or at the
    interpolated point *y* for an averaged-iterate optimizer.
    """

    positions: Tensor
    values: Tensor
    optimizer: str
    hyperparameters: dict[str, Any]
    diverged_at: int | None = None
    gradients: Tensor | None = None

    @property
    def final(self) -> Tensor:
        """The last position reached."""
        return self.positions[-1]

    @property
    def steps(self) -> int:
        """The number of updates actually taken."""
        return self.positions.shape[0] - 1


@dataclass(frozen=True)
class Traced:
    """One optimizer's path; ``lr_picked`` when ``lr`` was chosen from the grid; ``escaped_at`` when the path ran
    away from the function's plot window for good, climbing or an order of magnitude off it (:func:`escape_step`)."""

    optimizer: str
    lr: float
    trajectory: Trajectory
    lr_picked: bool = False
    escaped_at: int | None = None
    schedule: str | None = None  # the learning-rate schedule's label; None: a constant lr

    @property
    def label(self) -> str:
        diverged = ", diverged" if self.diverged else ""
        schedule = f", {self.schedule}" if self.schedule else ""
        return f"{self.optimizer} (lr={self.lr:.3g}{schedule}{diverged})"

    @property
    def diverged_at(self) -> int | None:
        """The first step of divergence: a non-finite point or value, or the escape, whichever came first."""
        steps = [k for k in (self.trajectory.diverged_at, self.escaped_at) if k is not None]
        return min(steps) if steps else None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

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


def escape_step(function: TestFunction, trajectory: Trajectory) -> int | None:
    """The first step ``k`` from which every finite point of the path has run away from the function's plot
    window (``function.bounds``) and never came back: it lies outside the window and either its value is above
    the start's (climbing: a blow-up towards +∞) or it is more than :data:`FAR_OUT` times as far from the
    window's centre as the window's edge in some coordinate (an order of magnitude off the picture, whichever way
    f goes: the saddle's descent towards −∞). With the non-finite points and values that end a path
    (:func:`minimize`), this is the trace's one definition of divergence (:attr:`Traced.diverged_at`).

    ``None`` when the path ends inside the window, or just outside it while below its start (a descent that
    went a little past the picture).
    """
    pos = np.asarray(trajectory.positions, dtype=np.float64).reshape(trajectory.positions.shape[0], -1)
    val = np.asarray(trajectory.values, dtype=np.float64)
    finite = np.isfinite(pos).all(axis=1) & np.isfinite(val)
    n = int(np.argmin(finite)) if not finite.all() else len(val)
    lo, hi = (np.array([b[i] for b in function.bounds]) for i in (0, 1))
    outside = ~((pos[:n] >= lo) & (pos[:n] <= hi)).all(axis=1)
    far = (np.abs(pos[:n] - (lo + hi) / 2) > FAR_OUT * (hi - lo) / 2).any(axis=1)
    gone = outside & ((val[:n] > val[0]) | far)
    if n == 0 or not gone[-1]:
        return None
    staying = np.flatnonzero(~gone)
    return int(staying[-1]) + 1 if staying.size else 0


def steps_to_minimum(function: TestFunction, traced: Traced, tol: float = REACHED) -> int | None:
    """The first step whose point is within ``tol`` of a known minimum, or ``None``."""
    if not function.minima:
        return None
    pos = traced.positions
    dist = np.min([np.linalg.norm(pos - np.asarray(m), axis=1) for m in function.minima], axis=0)
    hits = np.flatnonzero(dist < tol)
    return int(hits[0]) if hits.size else None


def minimize(fn: Callable[[Tensor], Tensor], x0: float | Sequence[float] | Tensor, optimizer: str | type[
        torch.optim.Optimizer] = "sgd", lr: float = 0.1, steps: int = 100, *, dtype: torch.dtype = torch.float64,
             schedule: Callable[[int], float] | None = None, **hyper: Any) -> Trajectory:
    """Run ``steps`` updates of ``optimizer`` on ``fn`` from ``x0``; return the :class:`Trajectory`.

    ``optimizer`` is a registry name (``descentlab.optim.names()``) or an optimizer class; ``lr`` and ``hyper``
    go to its constructor. ``x0`` (a number, a sequence or a tensor) is copied to ``dtype`` (float64 unless
    told otherwise); it must hold at least one number, all finite (UserError otherwise). ``fn`` takes the
    tensor and returns a one-element tensor that depends on it.

    A number or a vector is optimized as a ``1 × n`` matrix (``fn`` still sees it in ``x0``'s shape): the same
    for every elementwise rule, and what lets a matrix rule act on it: Muon would otherwise hand a vector to its
    AdamW half, whose step is ``adamw_lr`` (``lr`` only scales it when a schedule moves ``lr``).

    ``schedule``: a ``step -> lr`` callable (:mod:`descentlab.schedules`); update ``k`` (0-based) then uses
    ``schedule(k)`` in every param group, written as the trainers write it
    (:func:`~descentlab.schedules.adapter.write_value`).
    """
    if not callable(fn):
        raise UserError(f"minimize: fn must be callable, got {type(fn).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UserError(f"minimize: invalid steps={steps!r}; allowed: an integer ≥ 0")
    start = _start(x0, dtype)
    shape = start.shape
    x = start.detach().reshape(1, -1).requires_grad_(True) if start.ndim < 2 else start
    opt, name = _make_optimizer(optimizer, x, lr, hyper)
    averaged = averaged_iterate(opt)
    closure_needed = takes_closure(opt)  # LBFGS, SAM: they evaluate fn themselves
    if averaged:
        opt.train()

    positions: list[Tensor] = []
    values: list[Tensor] = []
    gradients: list[Tensor] = []
    diverged_at = None
    for k in range(steps + 1):
        value = _value(fn, x.view(shape))
        grad = torch.autograd.grad(value, x)[0] if k < steps else None
        if averaged and k > 0:
            point = _averaged_point(opt, x).view(shape)
            with torch.no_grad():
                recorded = _value(fn, point)
        else:
            point, recorded = x.detach().clone().view(shape), value.detach()
        positions.append(point)
        values.append(recorded)
        if not (torch.isfinite(point).all() and torch.isfinite(recorded) and torch.isfinite(value)):
            diverged_at = k
            break
        if grad is None:
            break
        gradients.append(grad.detach().clone().view(shape))
        x.grad = grad
        if schedule is not None:
            for group in opt.param_groups:
                write_value(group, "lr", None, float(schedule(k)))
        if closure_needed:
            opt.step(partial(_reevaluate, fn, x, shape))
        else:
            opt.step()

    grads = torch.stack(gradients) if gradients else start.detach().new_zeros((0, *shape))
    return Trajectory(torch.stack(positions), torch.stack(values).to(dtype), name, _resolved(opt), diverged_at,
                      grads)


def _start(x0: Any, dtype: torch.dtype) -> Tensor:
    try:
        x = torch.as_tensor(x0.detach() if isinstance(x0, Tensor) else x0, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"minimize: x0 must be a number, a sequence of numbers or a tensor; got {x0!r}") from e
    if not x.is_floating_point():
        raise UserError(f"minimize: invalid dtype={dtype}; allowed: a floating-point dtype")
    finite_point(x.reshape(-1).tolist(), "minimize: x0")  # the same rule as `trace --start`: ≥ 1 finite number
    return x.clone().requires_grad_(True)


def _make_optimizer(optimizer: Any, x: Tensor, lr: float,
                    hyper: dict[str, Any]) -> tuple[torch.optim.Optimizer, str]:
    if isinstance(optimizer, str):
        entry = optim.get(optimizer)  # UserError listing the valid names
        return entry.create([x], lr=lr, **hyper), entry.name
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer([x], lr=lr, **hyper), optimizer.__name__
    raise UserError(f"minimize: invalid optimizer={optimizer!r}; allowed: a torch.optim.Optimizer subclass or one "
                    f"of {', '.join(optim.names())}")


def _value(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    value = fn(x)
    if not isinstance(value, Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise UserError(f"minimize: fn must return a one-element tensor (a scalar), got {shape}")
    if torch.is_grad_enabled() and not value.requires_grad:
        raise UserError("minimize: fn's value does not depend on x through differentiable torch operations "
                        "(was it detached or converted to a Python number?)")
    return value.reshape(())


def _reevaluate(fn: Callable[[Tensor], Tensor], x: Tensor, shape: torch.Size) -> Tensor:
    """The closure of an optimizer that evaluates ``fn`` itself: ``fn`` at ``x`` with ``x.grad`` set to its
    gradient (an update of such an optimizer may evaluate ``fn`` several times; the path keeps its end point)."""
    with torch.enable_grad():
        value = _value(fn, x.view(shape))
        x.grad = torch.autograd.grad(value, x)[0]
    return value.detach()


def _averaged_point(opt: torch.optim.Optimizer, x: Tensor) -> Tensor:
    """The averaged iterate of a schedule-free optimizer, leaving the training point bitwise unchanged."""
    with torch.no_grad():
        y = x.detach().clone()
        opt.eval()
        point = x.detach().clone()
        opt.train()
        x.copy_(y)
    return point


def _resolved(opt: torch.optim.Optimizer) -> dict[str, Any]:
    group = opt.param_groups[0]
    if isinstance(opt, optim.RuleOptimizer):
        return opt.hyperparameters(group)
    return {k: v for k, v in group.items() if k != "params"}
