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


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_eps_hat_fused_kernel_matches_keras_update_loop(amsgrad: bool) -> None:
    lr, beta_1, beta_2, epsilon = 1e-2, 0.9, 0.999, 1e-7
    gen = torch.Generator().manual_seed(1)
    p0 = torch.randn(6, 7, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(100, 6, 7, generator=gen, dtype=torch.float64)
    expected = keras_adam(p0, noise, lr, beta_1, beta_2, epsilon, amsgrad)
    p = torch.nn.Parameter(p0.clone())
    opt = optim.Adam([p], lr=lr, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, eps_hat=True, fused=True)
    h = opt.hyperparameters(opt.param_groups[0])
    for s in range(100):
        p.grad = gradient(p.detach(), noise[s])
        if s == 0:
            opt.step()
            continue
        state = opt.state[p]
        assert ADAM.fused([p], [p.grad], [state], h) is True  # the kernel did this step
    torch.testing.assert_close(p.detach(), expected, rtol=1e-9, atol=1e-12)


def test_eps_hat_fused_falls_back_when_tensors_are_at_different_steps() -> None:
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    ref_a, ref_b = a.detach().clone(), b.detach().clone()
    h = ADAM.resolve({"lr": 0.1, "eps": 1e-7, "eps_hat": True})
    states = [ADAM.init_state(a, h), ADAM.init_state(b, h)]
    ref_states = [ADAM.init_state(ref_a, h), ADAM.init_state(ref_b, h)]
    assert ADAM.fused([a], [torch.ones(3)], states[:1], h) is True  # a at step 1, b at step 0
    ADAM.update(ref_a, torch.ones(3), ref_states[0], h)
    assert ADAM.fused([a, b], [torch.ones(3), torch.ones(2)], states, h) is False
    assert [float(s["step"]) for s in states] == [1.0, 0.0]  # nothing was touched
    torch.testing.assert_close(a.detach(), ref_a)


def test_eps_hat_must_be_a_bool() -> None:
    with pytest.raises(HyperparameterError, match=r"adam: invalid eps_hat=1; allowed: True or False"):
        optim.Adam([torch.nn.Parameter(torch.ones(2))], eps_hat=1)
