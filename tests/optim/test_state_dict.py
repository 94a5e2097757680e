"""Checkpoints: a state_dict saved mid-run and loaded into a fresh optimizer continues the run exactly.

For every row of :data:`tests.optim.cases.CASES`: our optimizer saved after 50 steps (deep-copied, or written
with ``torch.save`` and read back with ``weights_only=True``) and loaded into a fresh optimizer on a fresh copy
of the model continues bitwise like the run that was never interrupted (float64). And for every row whose
reference is a ``torch.optim`` class, checkpoints cross-load both ways: torch's state_dict into ours, ours into
torch's, and the two continue equal.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from descentlab import optim
from tests.optim.cases import CASES, Case
from tests.optim.harness import assert_close_rel, loss_fn, small_mlp, two_groups

DTYPE = torch.float64
HALF = 50  # steps before the checkpoint, and after it
RTOL = 1e-10  # ours vs torch: same math, possibly another kernel (our default path may be torch's fused one)


def batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The i-th batch, the same in every run."""
    gen = torch.Generator().manual_seed(1000 + i)
    return torch.randn(32, 6, generator=gen, dtype=DTYPE), torch.randint(0, 3, (32,), generator=gen)


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: range) -> None:
    if callable(getattr(opt, "train", None)):  # schedule-free optimizers: gradients are taken in train mode
        opt.train()
    for i in steps:
        x, y = batch(i)
        opt.zero_grad()
        loss_fn(model, x, y).backward()
        opt.step()


def build(cls: type[torch.optim.Optimizer], case: Case, model: nn.Module, **extra: Any) -> torch.optim.Optimizer:
    return cls(two_groups(model, case.group2), **case.hyper, **extra)


def fresh_copy(model: nn.Module) -> nn.Module:
    """Another model (different initial weights) loaded with ``model``'s current weights."""
    other = small_mlp(DTYPE, seed=123)
    other.load_state_dict(copy.deepcopy(model.state_dict()))
    return other


def via_deepcopy(sd: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sd)


def via_torch_save(sd: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(sd, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


ROUND_TRIPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "deepcopy": via_deepcopy, "torch.save": via_torch_save,
}


def tensors_of(opt: torch.optim.Optimizer, model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every parameter, then every state tensor, named."""
    params = list(model.parameters())
    out = [(f"parameter {i}", p.detach()) for i, p in enumerate(params)]
    for i, p in enumerate(params):
        out += [(f"parameter {i} state {k!r}", v) for k, v in sorted(opt.state[p].items()) if torch.is_tensor(v)]
    return out


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
@pytest.mark.parametrize("path", [{}, {"fused": False}], ids=["default-path", "per-tensor"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_resume_mid_run_is_bitwise_identical(case: Case, path: dict[str, Any], round_trip: str) -> None:
    uninterrupted = small_mlp(DTYPE)
    resumed = copy.deepcopy(uninterrupted)

    opt = build(case.ours, case, uninterrupted, **path)
    train(uninterrupted, opt, range(2 * HALF))

    first = build(case.ours, case, resumed, **path)
    train(resumed, first, range(HALF))
    saved = ROUND_TRIPS[round_trip](first.state_dict())
    model = fresh_copy(resumed)
    second = build(case.ours, case, model, **path)
    second.load_state_dict(saved)
    assert second.state_dict()["param_groups"] == first.state_dict()["param_groups"]
    train(model, second, range(HALF, 2 * HALF))

    expected, actual = tensors_of(opt, uninterrupted), tensors_of(second, model)
    assert [name for name, _ in actual] == [name for name, _ in expected], f"{case}: state keys differ"
    for (name, a), (_, e) in zip(actual, expected):
        assert a.dtype == e.dtype, f"{case}: {name} is {a.dtype} after resuming, {e.dtype} without"
        assert torch.equal(a, e), f"{case}: {name} differs after resuming"


TORCH_CASES = [c for c in CASES if c.reference.__module__.startswith("torch.optim")]


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_state_dict_cross_loads_with_torch(case: Case, direction: str) -> None:
    """Save after 50 steps with one implementation, load into the other; both continue and agree."""
    saver_cls, loader_cls = ((case.reference, case.ours) if direction == "torch-to-ours"
                             else (case.ours, case.reference))
    model = small_mlp(DTYPE)
    saver = build(saver_cls, case, model)
    train(model, saver, range(HALF))
    other = fresh_copy(model)
    loader = build(loader_cls, case, other)
    loader.load_state_dict(via_torch_save(saver.state_dict()))
    for saved_group, loaded_group in zip(saver.param_groups, loader.param_groups):
        assert all(loaded_group[k] == saved_group[k] for k in case.hyper), "hyperparameters not carried over"
    train(model, saver, range(HALF, 2 * HALF))
    train(other, loader, range(HALF, 2 * HALF))

    ours, ref = (loader, saver) if direction == "torch-to-ours" else (saver, loader)
    ours_model, ref_model = (other, model) if direction == "torch-to-ours" else (model, other)
    for i, (p, q) in enumerate(zip(ours_model.parameters(), ref_model.parameters())):
        assert torch.isfinite(p).all(), f"{case} {direction}: parameter {i} is not finite"
        assert_close_rel(p.detach(), q.detach(), RTOL, f"{case} {direction}: parameter {i}")
        for key, value in ours.state[p].items():
            key_ref = case.state_map.get(key, key)
            if key_ref is None or not torch.is_tensor(value):
                continue
            assert_close_rel(value.to(DTYPE), ref.state[q][key_ref].to(DTYPE), RTOL,
                             f"{case} {direction}: parameter {i} state {key!r}")


def test_adamw_loads_an_adam_state_dict_as_adamw_as_torch() -> None:
    """torch.optim.AdamW's weight decay stays decoupled whatever state_dict it loads (one saved by Adam has
    ``decoupled_weight_decay=False``): ours too, and both then take the same steps."""
    final = []
    for lib in (torch.optim, optim):
        torch.manual_seed(0)
        model = nn.Linear(6, 3).to(DTYPE)
        adam = lib.Adam(model.parameters(), lr=1e-2, weight_decay=0.1)
        train(model, adam, range(3))
        adamw = lib.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        adamw.load_state_dict(adam.state_dict())
        assert adamw.param_groups[0]["decoupled_weight_decay"] is True
        old = adam.state_dict()
        del old["param_groups"][0]["decoupled_weight_decay"]  # a state_dict saved before the key existed
        adamw.load_state_dict(old)
        assert adamw.param_groups[0]["decoupled_weight_decay"] is True
        train(model, adamw, range(3, 6))
        final.append([p.detach().clone() for p in model.parameters()])
    for theirs, ours in zip(*final):
        assert_close_rel(ours, theirs, RTOL, "AdamW after loading Adam's state_dict")


def test_adamw_refuses_coupled_weight_decay() -> None:
    with pytest.raises(ValueError, match=r"adamw: invalid decoupled_weight_decay=False; allowed: True"):
        optim.AdamW([torch.zeros(2, requires_grad=True)], decoupled_weight_decay=False)
