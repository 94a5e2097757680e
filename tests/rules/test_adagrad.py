"""Adagrad: tensor hyperparameters, Keras's ε placement, validation."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.rules.adagrad import ADAGRAD
from descentlab.rules.base import HyperparameterError
from tests.rules.stacking import assert_stacked_equals_separate, gradient


@pytest.mark.parametrize("flags", [{}, {"maximize": True}, {"eps_inside_sqrt": True}], ids=str)
def test_stacked_tensor_hyperparameters_equal_separate_runs(flags: dict) -> None:
    configs = [
        {"lr": 0.05, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
        {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6},
        {"lr": 0.01, "lr_decay": 0.5, "weight_decay": 0.1, "initial_accumulator_value": 1.0, "eps": 1e-3},
    ]
    assert_stacked_equals_separate(ADAGRAD, [{**c, **flags} for c in configs])


def test_eps_inside_sqrt_matches_keras_update_loop() -> None:
    """A transcription of Keras 3's ``Adagrad.update_step`` (keras/src/optimizers/adagrad.py), 100 steps."""
    lr, init, eps = 0.01, 0.1, 1e-7
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(6, 7, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(100, 6, 7, generator=gen, dtype=torch.float64)

    var, accumulator = p0.clone(), torch.full_like(p0, init)
    for s in range(100):
        g = gradient(var, noise[s])
        accumulator = accumulator + torch.square(g)
        var = var - (lr * g) / torch.sqrt(accumulator + eps)

    h = ADAGRAD.resolve({"lr": lr, "initial_accumulator_value": init, "eps": eps, "eps_inside_sqrt": True})
    p = p0.clone()
    state = ADAGRAD.init_state(p, h)
    for s in range(100):
        ADAGRAD.update(p, gradient(p, noise[s]), state, h)
    torch.testing.assert_close(p, var, rtol=1e-10, atol=0)
    torch.testing.assert_close(state["sum"], accumulator, rtol=1e-10, atol=0)


def test_eps_inside_sqrt_is_not_fused() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    h = ADAGRAD.resolve({"eps_inside_sqrt": True})
    assert ADAGRAD.fused([p], [p.grad], [ADAGRAD.init_state(p, h)], h) is False
    opt = optim.Adagrad([p], lr=0.1, eps_inside_sqrt=True, fused=True)  # falls back to the readable rule
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.1 / (1 + 1e-10) ** 0.5))


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("lr_decay", -0.1), ("weight_decay", -1e-3),
                                             ("initial_accumulator_value", -0.5), ("eps", -1e-8),
                                             ("eps_inside_sqrt", 1)])
def test_invalid_hyperparameters_are_named(name: str, value: object) -> None:
    with pytest.raises(HyperparameterError, match=rf"adagrad: invalid {name}={value!r}; allowed: "):
        optim.Adagrad([torch.nn.Parameter(torch.ones(2))], **{name: value})


def test_fused_kernel_is_taken_on_cpu() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    h = ADAGRAD.resolve({"lr": 0.1})
    state = ADAGRAD.init_state(p, h)
    assert ADAGRAD.fused([p], [p.grad], [state], h) is True
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.1 / (1 + 1e-10)))
    assert state["step"].item() == 1


def test_eps_zero_is_refused_like_every_rule() -> None:
    with pytest.raises(ValueError, match=r"adagrad: invalid eps=0.0; allowed: a number > 0"):
        optim.Adagrad([torch.nn.Parameter(torch.ones(2))], eps=0.0)
