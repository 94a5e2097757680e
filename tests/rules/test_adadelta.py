"""Adadelta: tensor hyperparameters and validation."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.rules.adadelta import ADADELTA
from descentlab.rules.base import HyperparameterError
from tests.rules.stacking import assert_stacked_equals_separate


@pytest.mark.parametrize("flags", [{}, {"maximize": True}], ids=str)
def test_stacked_tensor_hyperparameters_equal_separate_runs(flags: dict) -> None:
    configs = [
        {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
        {"lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.01},
        {"lr": 2.0, "rho": 0.0, "eps": 1e-8, "weight_decay": 0.1},
    ]
    assert_stacked_equals_separate(ADADELTA, [{**c, **flags} for c in configs])


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("rho", 1.5), ("rho", -0.1), ("eps", -1e-6),
                                             ("weight_decay", -1e-3), ("maximize", None)])
def test_invalid_hyperparameters_are_named(name: str, value: object) -> None:
    with pytest.raises(HyperparameterError, match=rf"adadelta: invalid {name}={value!r}; allowed: "):
        optim.Adadelta([torch.nn.Parameter(torch.ones(2))], **{name: value})
