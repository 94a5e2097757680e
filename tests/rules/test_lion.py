"""Lion on a stacked [K, …] parameter with tensor hyperparameters equals K separate runs."""

from __future__ import annotations

import torch

from descentlab.rules.lion import LION

K = 3


def test_stacked_equals_separate_runs() -> None:
    gen = torch.Generator().manual_seed(0)
    lr = [1e-3, 3e-3, 1e-2]
    beta1, beta2 = [0.9, 0.8, 0.95], [0.99, 0.9, 0.999]
    wd = [0.0, 0.1, 1.0]
    start = torch.randn(K, 4, 5, generator=gen, dtype=torch.float64)
    grads = [torch.randn(K, 4, 5, generator=gen, dtype=torch.float64) for _ in range(30)]

    def col(v: list[float]) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float64).view(K, 1, 1)

    h = LION.resolve({"lr": col(lr), "betas": (col(beta1), col(beta2)), "weight_decay": col(wd)})
    stacked = start.clone()
    state = LION.init_state(stacked, h)
    for g in grads:
        LION.update(stacked, g, state, h)
    for k in range(K):
        hk = LION.resolve({"lr": lr[k], "betas": (beta1[k], beta2[k]), "weight_decay": wd[k]})
        p = start[k].clone()
        sk = LION.init_state(p, hk)
        for g in grads:
            LION.update(p, g[k], sk, hk)
        torch.testing.assert_close(stacked[k], p, rtol=1e-10, atol=0)
        torch.testing.assert_close(state["exp_avg"][k], sk["exp_avg"], rtol=1e-10, atol=1e-300)


def test_maximize_flips_the_first_step() -> None:
    g = torch.randn(5, dtype=torch.float64)
    a, b = torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    h, hm = LION.resolve({"lr": 0.1}), LION.resolve({"lr": 0.1, "maximize": True})
    LION.update(a, g, LION.init_state(a, h), h)
    LION.update(b, g, LION.init_state(b, hm), hm)
    torch.testing.assert_close(a, -b)
    torch.testing.assert_close(a, -0.1 * g.sign())
