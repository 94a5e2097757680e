"""RAdam: tensor hyperparameters (the rectification switched on per configuration) and validation."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.rules.base import HyperparameterError
from descentlab.rules.radam import RADAM
from tests.rules.stacking import assert_stacked_equals_separate


@pytest.mark.parametrize("flags", [{}, {"decoupled_weight_decay": True}, {"maximize": True}], ids=str)
def test_stacked_tensor_hyperparameters_equal_separate_runs(flags: dict) -> None:
    # β2 = 0.999 and 0.9 rectify from step 6, β2 = 0.5 never (ρ∞ = 3): both branches side by side.
    configs = [
        {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        {"lr": 1e-2, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.01},
        {"lr": 5e-2, "betas": (0.5, 0.5), "eps": 1e-4, "weight_decay": 0.1},
    ]
    assert_stacked_equals_separate(RADAM, [{**c, **flags} for c in configs])


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("eps", -1e-8), ("weight_decay", -1e-3),
                                             ("decoupled_weight_decay", "no"), ("maximize", 1)])
def test_invalid_hyperparameters_are_named(name: str, value: object) -> None:
    with pytest.raises(HyperparameterError, match=rf"radam: invalid {name}={value!r}; allowed: "):
        optim.RAdam([torch.nn.Parameter(torch.ones(2))], **{name: value})
