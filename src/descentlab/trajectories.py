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
*x* (the one to evaluate or report) and ``fn`` there; ``fn`` is then called twice per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.capabilities import averaged_iterate

__all__ = ["Trajectory", "minimize"]


@dataclass(frozen=True)
class Trajectory:
    """The path of one optimizer on one function.

    ``positions``: ``[n, *x0.shape]`` and ``values``: ``[n]`` with ``n = steps + 1`` (``x0`` included), or
    ``n = diverged_at + 1`` when the run stopped at the first non-finite position or value (that entry is kept).
    ``hyperparameters`` are the optimizer's resolved ones (defaults filled in).
    """

    positions: Tensor
    values: Tensor
    optimizer: str
    hyperparameters: dict[str, Any]
    diverged_at: int | None = None

    @property
    def final(self) -> Tensor:
        """The last position reached."""
        return self.positions[-1]

    @property
    def steps(self) -> int:
        """The number of updates actually taken."""
        return self.positions.shape[0] - 1


def minimize(fn: Callable[[Tensor], Tensor], x0: float | Sequence[float] | Tensor, optimizer: str | type[
        torch.optim.Optimizer] = "sgd", lr: float = 0.1, steps: int = 100, *, dtype: torch.dtype = torch.float64,
             **hyper: Any) -> Trajectory:
    """Run ``steps`` updates of ``optimizer`` on ``fn`` from ``x0``; return the :class:`Trajectory`.

    ``optimizer`` is a registry name (``descentlab.optim.names()``) or an optimizer class; ``lr`` and ``hyper``
    go to its constructor. ``x0`` (a number, a sequence or a tensor) is copied to ``dtype`` (float64 unless
    told otherwise). ``fn`` takes the tensor and returns a one-element tensor that depends on it.

    A number or a vector is optimized as a ``1 × n`` matrix (``fn`` still sees it in ``x0``'s shape): the same
    for every elementwise rule, and what lets a matrix rule act on it: Muon would otherwise hand a vector to its
    AdamW half, which ignores ``lr``.
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
    if averaged:
        opt.train()

    positions: list[Tensor] = []
    values: list[Tensor] = []
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
        x.grad = grad
        opt.step()

    return Trajectory(torch.stack(positions), torch.stack(values).to(dtype), name, _resolved(opt), diverged_at)


def _start(x0: Any, dtype: torch.dtype) -> Tensor:
    try:
        x = torch.as_tensor(x0.detach() if isinstance(x0, Tensor) else x0, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"minimize: x0 must be a number, a sequence of numbers or a tensor; got {x0!r}") from e
    if not x.is_floating_point():
        raise UserError(f"minimize: invalid dtype={dtype}; allowed: a floating-point dtype")
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
