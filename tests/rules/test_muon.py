"""Muon on stacked [K, A, B] (and [K, L, A, B]) matrices with tensor hyperparameters equals K separate runs."""

from __future__ import annotations

import pytest
import torch

from descentlab.rules.muon import MUON, MUON_WITH_ADAMW, newton_schulz

K = 3


def col(v: list[float], ndim: int) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64).view(K, *([1] * (ndim - 1)))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)], ids=["tall", "wide", "batched"])
@pytest.mark.parametrize("nesterov", [True, False])
def test_stacked_equals_separate_runs(shape: tuple[int, ...], nesterov: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    lr, wd, mom = [0.02, 0.01, 0.05], [0.0, 0.1, 0.01], [0.95, 0.9, 0.5]
    fixed = {"nesterov": nesterov, "ns_dtype": None, "adjust_lr_fn": "match_rms_adamw"}
    start = torch.randn(K, *shape, generator=gen, dtype=torch.float64)
    grads = [torch.randn(K, *shape, generator=gen, dtype=torch.float64) for _ in range(20)]
    n = start.ndim
    h = MUON.resolve({"lr": col(lr, n), "weight_decay": col(wd, n), "momentum": col(mom, n), **fixed})
    stacked = start.clone()
    state = MUON.init_state(stacked, h)
    for g in grads:
        MUON.update(stacked, g, state, h)
    for k in range(K):
        hk = MUON.resolve({"lr": lr[k], "weight_decay": wd[k], "momentum": mom[k], **fixed})
        p = start[k].clone()
        sk = MUON.init_state(p, hk)
        for g in grads:
            MUON.update(p, g[k], sk, hk)
        torch.testing.assert_close(stacked[k], p, rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(state["momentum_buffer"][k], sk["momentum_buffer"], rtol=1e-10, atol=1e-13)


def test_newton_schulz_orthogonalizes() -> None:
    g = torch.randn(16, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = newton_schulz(g, (2.0, -1.5, 0.5), 30, 1e-7, None)  # the cubic iteration: converges to U Vᵀ
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    torch.testing.assert_close(x, u @ vh, rtol=0, atol=1e-8)
    y = newton_schulz(g, MUON.defaults["ns_coefficients"], 5, 1e-7, None)  # the quintic: singular values ≈ 1
    s = torch.linalg.svdvals(y)
    assert s.min() > 0.5 and s.max() < 1.5
    assert newton_schulz(g, (3.4445, -4.775, 2.0315), 5, 1e-7, torch.bfloat16).dtype == torch.bfloat16


def test_stacked_use_muon_must_be_explicit() -> None:
    bias = torch.zeros(K, 4)  # a stacked bias is 2-D: auto would treat it as a matrix
    assert "momentum_buffer" in MUON_WITH_ADAMW.init_state(bias, MUON_WITH_ADAMW.resolve())
    assert "exp_avg" in MUON_WITH_ADAMW.init_state(bias, MUON_WITH_ADAMW.resolve({"use_muon": False}))
    with pytest.raises(ValueError, match="needs a matrix"):
        h = MUON.resolve()
        p = torch.zeros(4)
        MUON.update(p, p, MUON.init_state(p, h), h)
