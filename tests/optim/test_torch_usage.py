"""Our classes used as real PyTorch code uses ``torch.optim``: each check runs ours and torch's class of the same
name the same way and compares what a user sees (parameters after training, errors).

What ``test_drop_in.py`` already covers (signatures, per-step numbers and state, state_dict cross-loading, hooks,
``torch.compile`` of ``step`` alone with dynamo's eager backend) is not repeated here; these are the usage
patterns that broke: a training step compiled with AOTAutograd (what the default ``inductor`` backend runs),
half-precision parameters on the default path, NumPy scalars as hyperparameters.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from descentlab import optim

# The four classes whose default path on CPU may call torch's fused kernel (rules with a kernel of their own).
KERNEL_PAIRS = [(optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, torch.optim.Adam, {}),
                (optim.AdamW, torch.optim.AdamW, {}), (optim.Adagrad, torch.optim.Adagrad, {"lr": 0.1})]
PAIRS = [*KERNEL_PAIRS, (optim.RMSprop, torch.optim.RMSprop, {}), (optim.Adadelta, torch.optim.Adadelta, {}),
         (optim.Adamax, torch.optim.Adamax, {}), (optim.NAdam, torch.optim.NAdam, {}),
         (optim.RAdam, torch.optim.RAdam, {}), (optim.Muon, torch.optim.Muon, {})]


def by_name(pairs: list[tuple[type, type, dict[str, Any]]]) -> list[Any]:
    return [pytest.param(*pair, id=pair[0].__name__) for pair in pairs]


def mlp(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6, bias=False), nn.Tanh(), nn.Linear(6, 2, bias=False)).to(dtype)


def data(dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(16, 5, generator=gen).to(dtype), torch.randn(16, 2, generator=gen).to(dtype)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), [
    pytest.param(*pair[:2], {**pair[2], **fused}, id=f"{pair[0].__name__}-fused={fused.get('fused')}")
    for pair, fused in zip(KERNEL_PAIRS, ({}, {}, {"fused": True}, {"fused": True}))])
def test_compiled_training_step_with_aot_autograd(ours: type, theirs: type, kwargs: dict[str, Any]) -> None:
    """``torch.compile`` of forward, backward and ``step`` together, through AOTAutograd (``aot_eager``: the
    stage that ``inductor``, the default backend, runs too, without its code generation). Ours crashed there:
    torch's CPU fused kernels have no fake-tensor implementation (``_fused_sgd_``, ``_fused_adagrad_``) or break
    functionalization (``_fused_adam_``), with ``fused=True`` as with the default ``fused=None`` (torch's own
    compiled ``fused=True`` works)."""
    x, y = data()
    results = []
    for cls in (ours, theirs):
        torch._dynamo.reset()
        model = mlp()
        opt = cls(model.parameters(), **kwargs)

        @torch.compile(backend="aot_eager")
        def train_step(model: nn.Module = model, opt: torch.optim.Optimizer = opt) -> Tensor:
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        for _ in range(3):
            train_step()
        results.append([p.detach() for p in model.parameters()])
    for p, q in zip(*results):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize(("ours", "theirs", "kwargs"), by_name(KERNEL_PAIRS))
def test_half_precision_parameters_train_as_torchs_default(ours: type, theirs: type, kwargs: dict[str, Any],
                                                           dtype: torch.dtype) -> None:
    """A bfloat16/float16 model on CPU with the default ``fused=None``: the same numbers as torch's default path.
    Ours took torch's CPU fused kernel, whose SGD in these dtypes leaves most elements unchanged (torch 2.13's
    ``_fused_sgd_``; its Adam in float16 also differs from torch's default, which overflows where it does not)."""
    x, y = data(dtype)
    results = []
    for cls in (ours, theirs):
        model = mlp(dtype)
        opt = cls(model.parameters(), **kwargs)
        for _ in range(3):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
        results.append([p.detach().double() for p in model.parameters()])
    for p, q in zip(*results):
        torch.testing.assert_close(p, q, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("scalar", [np.float32, np.float64, np.int64], ids=lambda t: t.__name__)
@pytest.mark.parametrize(("ours", "theirs", "kwargs"), by_name(PAIRS))
def test_numpy_scalar_hyperparameters(ours: type, theirs: type, kwargs: dict[str, Any], scalar: type) -> None:
    """Hyperparameters drawn with NumPy (a search's ``np.logspace(...)[i]``, a config read with NumPy) are taken
    as torch takes them; ours refused ``np.float32`` and NumPy integers as "not a number"."""
    hyper = dict(kwargs)
    hyper["lr"] = scalar(1) if scalar is np.int64 else scalar(0.01)
    hyper["weight_decay"] = scalar(0) if scalar is np.int64 else scalar(0.01)
    if "betas" in theirs.__init__.__code__.co_varnames and scalar is not np.int64:
        hyper["betas"] = (scalar(0.9), scalar(0.99))
        try:
            theirs(mlp().parameters(), **hyper)
        except ValueError as e:  # torch's Adam and AdamW: "betas must be either both floats or both Tensors"
            assert "betas" in str(e)
            del hyper["betas"]
    results = []
    for cls in (ours, theirs):
        model = mlp(torch.float64)
        opt = cls(model.parameters(), **hyper)
        x, y = data(torch.float64)
        for _ in range(3):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
        results.append([p.detach() for p in model.parameters()])
    # torch's Python arithmetic on an np.float32 (its step size lr / (1 - β₁ᵗ)) rounds to float32, where our fused
    # kernel (Adam, AdamW) computes in double: float32's precision, then. Muon: bfloat16 Newton–Schulz.
    tol = 1e-6 if scalar is np.float32 or ours is optim.Muon else 1e-10
    for p, q in zip(*results):
        torch.testing.assert_close(p, q, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
                                  "Muon", "Lion", "SGDScheduleFree", "AdamWScheduleFree"])
def test_rebuilt_from_its_own_defaults(name: str) -> None:
    """``type(opt)(params, **opt.defaults)`` — how wrappers (SAM, Lookahead) and checkpoint code rebuild an
    optimizer — works as with torch's classes: ``defaults`` holds only keywords the constructor takes. Ours wrote
    torch's front-end flags into every class's ``defaults`` (``capturable`` into ``SGD``'s and ``Adagrad``'s,
    ``foreach``/``capturable``/``differentiable`` into ``Muon``'s), keys their constructors refuse."""
    cls = getattr(optim, name)
    params = [torch.zeros(3, 3, requires_grad=True)]
    opt = cls(params, lr=0.05)
    rebuilt = cls(params, **opt.defaults)
    assert rebuilt.defaults == opt.defaults
    theirs = getattr(torch.optim, name, None)
    if theirs is not None:  # torch's keys, and beyond them only our own keywords
        ours_only = set(inspect.signature(cls.__init__).parameters) - set(inspect.signature(theirs.__init__).parameters)
        torch_keys = set(theirs(params, lr=0.05).defaults)
        assert torch_keys <= set(opt.defaults) and set(opt.defaults) - torch_keys <= ours_only
