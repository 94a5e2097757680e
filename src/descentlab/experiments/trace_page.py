"""The paths behind the interactive trace page (``descentlab trace --html``): every combination of a few test
functions, optimizers, learning rates and one second knob (momentum μ, Adam's β₁, RMSprop's α), traced in Python
by the optimizers' own update rules, so that the page's sliders only pick a precomputed path and draw it.

One (function, optimizer) pair is one batched run: the point is a ``[K, dim]`` tensor whose ``K`` rows are the
configurations, and the rule of :mod:`descentlab.rules` (the one the optimizer classes call) updates all rows at
once with its hyperparameters as ``[K, 1]`` columns, the way the vectorized trainer stacks configurations. The
rules used here are elementwise, so each row is exactly the single run :func:`descentlab.minimize` makes (a test
holds them equal). Each row becomes a :class:`~descentlab.trajectories.Traced` cut like ``minimize`` cuts a
run (at its first non-finite point) and marked diverged where it ran away from the window for good
(:func:`~descentlab.trajectories.escape_step`).

Size: ``len(functions) × Σ_optimizers len(knob values) × len(lrs) × (steps + 1)`` points; the defaults are
4 × 13 × 10 × 201 ≈ 105 000 points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.trace import LR_GRID
from descentlab.optim.capabilities import rule_of
from descentlab.tasks.functions import TestFunction, get_function
from descentlab.trajectories import Traced, Trajectory, escape_step


@dataclass(frozen=True)
class Knob:
    """The second slider of an optimizer: ``label`` shown, ``key`` the hyperparameter (``betas`` sets β₁)."""

    label: str
    key: str
    values: tuple[float, ...]


PAGE_FUNCTIONS: tuple[str, ...] = ("rosenbrock", "quadratic", "himmelblau", "rastrigin")
PAGE_OPTIMIZERS: dict[str, Knob | None] = {
    "sgd": None,
    "momentum": Knob("momentum μ", "momentum", (0.0, 0.5, 0.9, 0.95)),
    "adagrad": None,
    "rmsprop": Knob("decay α", "alpha", (0.5, 0.9, 0.99)),
    "adam": Knob("β₁", "betas", (0.0, 0.5, 0.9, 0.99)),
}
PAGE_STEPS = 200
MAX_STEPS = 200  # bounds the page's size


@dataclass(frozen=True)
class PagePaths:
    """Every traced path of the page: ``paths[function][optimizer][i][j]`` at ``lrs[i]`` and the optimizer's
    ``knobs[optimizer].values[j]`` (one column, ``j = 0``, for an optimizer without a knob)."""

    functions: tuple[TestFunction, ...]
    lrs: tuple[float, ...]
    knobs: Mapping[str, Knob | None]
    steps: int
    paths: Mapping[str, Mapping[str, list[list[Traced]]]]

    @property
    def n_points(self) -> int:
        return sum(len(t.positions) for by_opt in self.paths.values() for grid in by_opt.values()
                   for row in grid for t in row)


def _hyperparameters(name: str, lr: float, knob: Knob | None, value: float | None) -> dict[str, Any]:
    entry = optim.get(name)
    overrides: dict[str, Any] = {"lr": lr}
    if knob is not None:
        if knob.key == "betas":
            overrides["betas"] = (value, entry.hyperparameters()["betas"][1])
        else:
            overrides[knob.key] = value
    return entry.hyperparameters(overrides)  # the rule validates every configuration


def _columns(hypers: Sequence[dict[str, Any]], like: torch.Tensor) -> dict[str, Any]:
    """One hyperparameter dict for the stacked rows: shared values as they are, differing numbers as ``[K, 1]``."""

    def column(values: Sequence[float]) -> Any:
        if all(v == values[0] for v in values):
            return values[0]
        return torch.tensor(values, dtype=like.dtype).view(-1, 1)

    out: dict[str, Any] = {}
    for key, first in hypers[0].items():
        values = [h[key] for h in hypers]
        out[key] = type(first)(column(v) for v in zip(*values)) if isinstance(first, tuple) else column(values)
    return out


def trace_batch(function: TestFunction, name: str, configs: Sequence[tuple[float, float | None]], steps: int,
                knob: Knob | None = None) -> list[Traced]:
    """The paths of ``name`` on ``function`` from its start, one per ``(lr, knob value)`` of ``configs``."""
    rule = rule_of(optim.get(name).cls)
    if rule is None or rule.group_state or rule.averaged_iterate or rule.for_shape is not None:
        raise UserError(f"the trace page stacks configurations of elementwise rules; {name!r} is not one")
    hypers = [_hyperparameters(name, lr, knob, value) for lr, value in configs]
    x = torch.tensor([function.start] * len(configs), dtype=torch.float64, requires_grad=True)
    h = _columns(hypers, x)
    state = rule.init_state(x, h)
    positions, values = [], []
    for k in range(steps + 1):
        value = function.fn(x.T)  # the coordinates along the first axis: one value per row
        positions.append(x.detach().clone())
        values.append(value.detach().clone())
        if k == steps:
            break
        (grad,) = torch.autograd.grad(value.sum(), x)  # rows are independent: row i's gradient is ∇f(x_i)
        with torch.no_grad():
            rule.update(x, grad, state, h)
    pos, val = torch.stack(positions, dim=1), torch.stack(values, dim=1)  # [K, steps + 1, dim], [K, steps + 1]
    out = []
    for i, (lr, _) in enumerate(configs):
        finite = torch.isfinite(pos[i]).all(dim=1) & torch.isfinite(val[i])
        bad = torch.nonzero(~finite)
        cut = int(bad[0]) if len(bad) else None  # kept, as minimize keeps its first non-finite entry
        n = steps + 1 if cut is None else cut + 1
        path = Trajectory(pos[i, :n], val[i, :n], name, dict(hypers[i]), cut)
        out.append(Traced(name, lr, path, escaped_at=escape_step(function, path)))
    return out


def page_paths(functions: Sequence[str] = PAGE_FUNCTIONS, optimizers: Mapping[str, Knob | None] | None = None,
               lrs: Sequence[float] = LR_GRID, steps: int = PAGE_STEPS) -> PagePaths:
    """Every path of the page (see :class:`PagePaths`); ``steps`` at most :data:`MAX_STEPS`."""
    optimizers = dict(PAGE_OPTIMIZERS if optimizers is None else optimizers)
    if not 1 <= steps <= MAX_STEPS:
        raise UserError(f"the trace page takes 1 … {MAX_STEPS} steps; got {steps}")
    fns = tuple(get_function(f) for f in functions)
    for f in fns:
        if f.dim != 2:
            raise UserError(f"the trace page draws contour plots: {f.name} is {f.dim}-D; use a 2-D function")
    paths: dict[str, dict[str, list[list[Traced]]]] = {}
    for f in fns:
        paths[f.name] = {}
        for name, knob in optimizers.items():
            knob_values: tuple[float | None, ...] = (None,) if knob is None else knob.values
            configs = [(lr, v) for lr in lrs for v in knob_values]
            flat = trace_batch(f, name, configs, steps, knob)
            paths[f.name][name] = [flat[i * len(knob_values):(i + 1) * len(knob_values)] for i in range(len(lrs))]
    return PagePaths(fns, tuple(lrs), optimizers, steps, paths)
