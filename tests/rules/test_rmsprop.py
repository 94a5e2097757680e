"""RMSprop: tensor hyperparameters, Keras's ε placement, validation."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.rules.base import HyperparameterError
from descentlab.rules.rmsprop import RMSPROP
from tests.rules.stacking import assert_stacked_equals_separate, gradient

FLAGS = [{}, {"centered": True}, {"centered": True, "maximize": True}, {"eps_inside_sqrt": True},
         {"eps_inside_sqrt": True, "centered": True}]


@pytest.mark.parametrize("flags", FLAGS, ids=str)
def test_stacked_tensor_hyperparameters_equal_separate_runs(flags: dict) -> None:
    configs = [
        {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0},
        {"lr": 3e-3, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01, "momentum": 0.9},
        {"lr": 1e-3, "alpha": 0.5, "eps": 1e-3, "weight_decay": 0.1, "momentum": 0.5},
    ]
    assert_stacked_equals_separate(RMSPROP, [{**c, **flags} for c in configs])


def keras_rmsprop(p0: torch.Tensor, noise: torch.Tensor, lr: float, rho: float, momentum: float, eps: float,
                  centered: bool) -> torch.Tensor:
    """A transcription of Keras 3's ``RMSprop.update_step`` (keras/src/optimizers/rmsprop.py)."""
    variable = p0.clone()
    velocity, average_grad, buf = torch.zeros_like(p0), torch.zeros_like(p0), torch.zeros_like(p0)
    for s in range(len(noise)):
        gradient_ = gradient(variable, noise[s])
        velocity = rho * velocity + (1 - rho) * torch.square(gradient_)
        if centered:
            average_grad = rho * average_grad + (1 - rho) * gradient_
            denominator = velocity - torch.square(average_grad) + eps
        else:
            denominator = velocity + eps
        increment = (lr * gradient_) / torch.sqrt(denominator)
        if momentum > 0:
            buf = momentum * buf + increment
            variable = variable - buf
        else:
            variable = variable - increment
    return variable


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["no-momentum", "momentum"])
def test_eps_inside_sqrt_matches_keras_update_loop(centered: bool, momentum: float) -> None:
    lr, rho, eps = 1e-3, 0.9, 1e-7  # Keras's defaults
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(6, 7, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(100, 6, 7, generator=gen, dtype=torch.float64)
    expected = keras_rmsprop(p0, noise, lr, rho, momentum, eps, centered)

    h = RMSPROP.resolve({"lr": lr, "alpha": rho, "eps": eps, "momentum": momentum, "centered": centered,
                         "eps_inside_sqrt": True})
    p = p0.clone()
    state = RMSPROP.init_state(p, h)
    for s in range(100):
        RMSPROP.update(p, gradient(p, noise[s]), state, h)
    torch.testing.assert_close(p, expected, rtol=1e-10, atol=0)


def test_positional_arguments_follow_torch() -> None:
    opt = optim.RMSprop([torch.nn.Parameter(torch.ones(2))], 0.1, 0.9, 1e-6, 0.01, 0.5, True)
    group = opt.param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
            group["centered"], group["eps_inside_sqrt"]) == (0.1, 0.9, 1e-6, 0.01, 0.5, True, False)


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("alpha", -0.1), ("eps", -1e-8), ("momentum", -0.9),
                                             ("weight_decay", -1e-3), ("centered", "yes"), ("eps_inside_sqrt", 1)])
def test_invalid_hyperparameters_are_named(name: str, value: object) -> None:
    with pytest.raises(HyperparameterError, match=rf"rmsprop: invalid {name}={value!r}; allowed: "):
        optim.RMSprop([torch.nn.Parameter(torch.ones(2))], **{name: value})
