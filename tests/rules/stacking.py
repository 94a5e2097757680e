"""Shared checks for the rule tests: tensor hyperparameters on stacked parameters equal separate runs."""

from __future__ import annotations

from typing import Any

import torch

from descentlab.rules.base import Rule

SHAPE = (4, 5)


def gradient(p: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A deterministic, elementwise gradient (so stacking cannot mix configurations)."""
    return torch.sin(3 * p) + noise


def _stack(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, bool):
        assert all(v is first for v in values), "flags must be the same in every configuration"
        return first
    if isinstance(first, tuple):
        return tuple(_stack([v[i] for v in values]) for i in range(len(first)))
    return torch.tensor(values, dtype=torch.float64).view(-1, *([1] * len(SHAPE)))


def assert_stacked_equals_separate(rule: Rule, configs: list[dict[str, Any]], steps: int = 20,
                                   rtol: float = 1e-12) -> None:
    """Run ``rule.update`` once on a ``[K, 4, 5]`` parameter with ``[K, 1, 1]`` hyperparameters and K times on
    ``[4, 5]`` parameters with the float hyperparameters; parameters and every state tensor must agree."""
    hs = [rule.resolve(c) for c in configs]
    k = len(hs)
    stacked_h = {key: _stack([h[key] for h in hs]) for key in hs[0]}
    rule.validate(stacked_h)
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(k, *SHAPE, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(steps, k, *SHAPE, generator=gen, dtype=torch.float64)

    p = p0.clone()
    state = rule.init_state(p, stacked_h)
    for s in range(steps):
        rule.update(p, gradient(p, noise[s]), state, stacked_h)

    for i, h in enumerate(hs):
        q = p0[i].clone()
        single = rule.init_state(q, h)
        for s in range(steps):
            rule.update(q, gradient(q, noise[s, i]), single, h)
        torch.testing.assert_close(p[i], q, rtol=rtol, atol=1e-14, msg=lambda m, i=i: f"config {i}: {m}")
        assert set(single) <= set(state), f"state keys: stacked {sorted(state)}, separate {sorted(single)}"
        for key, value in single.items():
            stacked_value = torch.broadcast_to(state[key], p.shape)[i]
            torch.testing.assert_close(stacked_value.to(torch.float64),
                                       torch.broadcast_to(value, q.shape).to(torch.float64),
                                       rtol=rtol, atol=1e-14, msg=lambda m, i=i, key=key: f"config {i} {key}: {m}")
