"""Adam's ``eps_hat`` option (Keras's / TensorFlow's ε placement) against a transcription of Keras's loop."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.rules.adam import ADAM
from descentlab.rules.base import HyperparameterError
from tests.rules.stacking import assert_stacked_equals_separate, gradient


def keras_adam(p0: torch.Tensor, noise: torch.Tensor, lr: float, beta_1: float, beta_2: float, epsilon: float,
               amsgrad: bool) -> torch.Tensor:
    """A transcription of Keras 3's ``Adam.update_step`` (keras/src/optimizers/adam.py)."""
    variable = p0.clone()
    m, v, v_hat = torch.zeros_like(p0), torch.zeros_like(p0), torch.zeros_like(p0)
    for s in range(len(noise)):
        g = gradient(variable, noise[s])
        local_step = s + 1
        alpha = lr * (1 - beta_2**local_step) ** 0.5 / (1 - beta_1**local_step)
        m = m + (g - m) * (1 - beta_1)
        v = v + (torch.square(g) - v) * (1 - beta_2)
        denominator_v = v
        if amsgrad:
            v_hat = torch.maximum(v_hat, v)
            denominator_v = v_hat
        variable = variable - (m * alpha) / (torch.sqrt(denominator_v) + epsilon)
    return variable


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_eps_hat_matches_keras_update_loop(amsgrad: bool) -> None:
    lr, beta_1, beta_2, epsilon = 1e-2, 0.9, 0.999, 1e-7  # Keras's defaults, but a larger learning rate
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(6, 7, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(100, 6, 7, generator=gen, dtype=torch.float64)
    expected = keras_adam(p0, noise, lr, beta_1, beta_2, epsilon, amsgrad)

    h = ADAM.resolve({"lr": lr, "betas": (beta_1, beta_2), "eps": epsilon, "amsgrad": amsgrad, "eps_hat": True})
    p = p0.clone()
    state = ADAM.init_state(p, h)
    for s in range(100):
        ADAM.update(p, gradient(p, noise[s]), state, h)
    torch.testing.assert_close(p, expected, rtol=1e-10, atol=0)


def test_eps_hat_with_tensor_hyperparameters() -> None:
    configs = [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7}, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-3}]
    assert_stacked_equals_separate(ADAM, [{**c, "eps_hat": True} for c in configs])


def test_eps_hat_is_never_fused() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    h = ADAM.resolve({"eps_hat": True})
    assert ADAM.fused([p], [p.grad], [ADAM.init_state(p, h)], h) is False
    # fused=True still steps, through the readable rule.
    opt = optim.Adam([p], lr=0.1, eps_hat=True, fused=True)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.1 * (1 - 0.999) ** 0.5 / (1 - 0.9)
                                                      * 0.1 / ((1 - 0.999) ** 0.5 + 1e-8)))


def test_eps_hat_must_be_a_bool() -> None:
    with pytest.raises(HyperparameterError, match=r"adam: invalid eps_hat=1; allowed: True or False"):
        optim.Adam([torch.nn.Parameter(torch.ones(2))], eps_hat=1)
