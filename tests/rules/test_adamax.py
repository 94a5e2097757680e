"""Adamax: tensor hyperparameters and validation."""

from __future__ import annotations

import re

import pytest
import torch

from descentlab import optim
from descentlab.rules.adamax import ADAMAX
from descentlab.rules.base import HyperparameterError
from tests.rules.stacking import assert_stacked_equals_separate


@pytest.mark.parametrize("flags", [{}, {"maximize": True}], ids=str)
def test_stacked_tensor_hyperparameters_equal_separate_runs(flags: dict) -> None:
    configs = [
        {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.01},
        {"lr": 5e-2, "betas": (0.0, 0.5), "eps": 1e-1, "weight_decay": 0.1},
    ]
    assert_stacked_equals_separate(ADAMAX, [{**c, **flags} for c in configs])


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("eps", -1e-8), ("weight_decay", -1e-3),
                                             ("betas[0]", 1.0), ("betas[1]", -0.1)])
def test_invalid_hyperparameters_are_named(name: str, value: float) -> None:
    hyper = {name: value}
    if name.startswith("betas"):
        betas = [0.9, 0.999]
        betas[int(name[-2])] = value
        hyper = {"betas": tuple(betas)}
    with pytest.raises(HyperparameterError, match=re.escape(f"adamax: invalid {name}={value!r}; allowed: ")):
        optim.Adamax([torch.nn.Parameter(torch.ones(2))], **hyper)
