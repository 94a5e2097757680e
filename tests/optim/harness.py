"""Run our optimizer and a reference side by side on a small MLP with random data."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from tests.optim.cases import Case


def small_mlp(dtype: torch.dtype, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def two_groups(model: nn.Module, group2: dict[str, Any]) -> list[dict[str, Any]]:
    """First layer in group 1 (the constructor's hyperparameters), second layer with ``group2``'s overrides."""
    return [{"params": list(model[0].parameters())}, {"params": list(model[2].parameters()), **group2}]


def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def run_side_by_side(case: Case, dtype: torch.dtype, *, fused: bool | None = False, steps: int | None = None,
                     ours_kwargs: dict[str, Any] | None = None):
    """Train two identical models, one with ours, one with the reference; return both (model, optimizer)."""
    a = small_mlp(dtype)
    b = copy.deepcopy(a)
    extra = {} if fused is None else {"fused": fused}
    ours = case.ours(two_groups(a, case.group2), **case.hyper, **extra, **(ours_kwargs or {}))
    ref = case.reference(two_groups(b, case.group2), **case.hyper)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps or case.steps):
        x = torch.randn(32, 6, generator=gen, dtype=dtype)
        y = torch.randint(0, 3, (32,), generator=gen)
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            loss_fn(model, x, y).backward()
            opt.step()
    return (a, ours), (b, ref)


def assert_close_rel(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str) -> None:
    scale = expected.abs().max().clamp_min(1e-30)
    err = ((actual - expected).abs().max() / scale).item()
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"
