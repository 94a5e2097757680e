"""Schedule-free on a stacked [K, …] parameter with tensor hyperparameters equals K separate runs."""

from __future__ import annotations

import pytest
import torch

from descentlab.rules import schedule_free as sf

K = 3


@pytest.mark.parametrize("rule", [sf.SGD_SCHEDULE_FREE, sf.ADAMW_SCHEDULE_FREE], ids=lambda r: r.name)
def test_stacked_equals_separate_runs(rule) -> None:
    gen = torch.Generator().manual_seed(0)
    lr, wd, beta = [0.5, 0.1, 0.0], [0.0, 0.01, 0.1], [0.9, 0.8, 0.95]
    start = torch.randn(K, 4, 3, generator=gen, dtype=torch.float64)
    grads = [torch.randn(K, 4, 3, generator=gen, dtype=torch.float64) for _ in range(25)]

    def hyper(lr, wd, beta):
        mom = {"momentum": beta} if "momentum" in rule.defaults else {"betas": (beta, 0.99)}
        return rule.resolve({"lr": lr, "weight_decay": wd, "warmup_steps": 5, "r": 0.5, **mom})

    def run(p, h, grads):
        state, counters = rule.init_state(p, h), (-1.0, 0.0)
        for k, g in enumerate(grads):
            now = sf.advance(h, k, *counters)
            counters = (now.lr_max, now.weight_sum)
            rule.update(p, g, state, {**h, "k": k, "scheduled_lr": now.scheduled_lr, "ckp1": now.ckp1})
        sf.to_x(p, state, h)
        return p

    def col(v):
        return torch.tensor(v, dtype=torch.float64).view(K, 1, 1)

    stacked = run(start.clone(), hyper(col(lr), col(wd), col(beta)), grads)
    for k in range(K):
        p = run(start[k].clone(), hyper(lr[k], wd[k], beta[k]), [g[k] for g in grads])
        torch.testing.assert_close(stacked[k], p, rtol=1e-10, atol=1e-13)


def test_advance_with_zero_lr_gives_zero_weight() -> None:
    h = sf.SGD_SCHEDULE_FREE.resolve({"lr": 0.0})
    assert sf.advance(h, 0, -1.0, 0.0).ckp1 == 0.0
    t = sf.advance(h | {"lr": torch.tensor([0.0, 1.0])}, 0, -1.0, 0.0)
    assert t.ckp1.tolist() == [0.0, 1.0]
