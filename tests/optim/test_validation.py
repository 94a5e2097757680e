"""Invalid hyperparameters raise a ValueError that names the parameter, the value and what is allowed.

Each check runs over every registered optimizer that has the hyperparameter, found by name in its defaults
(``lr`` and every ``*_lr``, ``eps`` and ``*_eps``, …), so optimizers added later are covered unasked.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from descentlab import optim
from descentlab.rules.base import HyperparameterError

NAMES = optim.names()


def defaults(name: str) -> dict[str, Any]:
    """The rule's hyperparameters that the class's constructor takes (AdamW's is always decoupled)."""
    entry = optim.get(name)
    keywords = entry.keywords() or []
    return {k: v for k, v in entry.cls.rule.defaults.items() if k in keywords}


def keys(suffix: str) -> list[tuple[str, str]]:
    """(optimizer, hyperparameter) for every hyperparameter called ``suffix`` or ``*_suffix``."""
    return [(n, k) for n, d in ((n, defaults(n)) for n in NAMES) for k, v in d.items()
            if (k == suffix or k.endswith("_" + suffix)) and not isinstance(v, bool)]


def params() -> list[torch.Tensor]:
    return [torch.zeros(3, 2, requires_grad=True), torch.zeros(2, requires_grad=True)]


def raises(name: str, key: str, shown: str, allowed: str, **hyper: Any) -> None:
    pattern = rf"invalid {re.escape(key)}={re.escape(shown)}; allowed: .*{allowed}"
    with pytest.raises(ValueError, match=pattern) as info:
        optim.create(name, params(), **hyper)
    assert isinstance(info.value, HyperparameterError)


def test_hyperparameter_error_is_a_value_error() -> None:
    assert issubclass(HyperparameterError, ValueError)


@pytest.mark.parametrize(("name", "key"), keys("lr"), ids=str)
def test_negative_learning_rate(name: str, key: str) -> None:
    raises(name, key, "-0.1", "0", **{key: -0.1})


@pytest.mark.parametrize(("name", "key"), keys("weight_decay"), ids=str)
def test_negative_weight_decay(name: str, key: str) -> None:
    raises(name, key, "-0.01", "0", **{key: -0.01})


@pytest.mark.parametrize("bad", [-1e-8, 0.0])
@pytest.mark.parametrize(("name", "key"), keys("eps"), ids=str)
def test_eps_must_be_positive(name: str, key: str, bad: float) -> None:
    # One rule for every optimizer: ε ≤ 0 is refused (torch.optim would accept ε = 0).
    raises(name, key, repr(bad), "a number > 0", **{key: bad})


# Optimizers whose reference accepts β = 1 (the interval is [0, 1] there): lion_pytorch asserts 0 ≤ β ≤ 1.
BETA_ONE_ALLOWED = {"lion"}


@pytest.mark.parametrize(("which", "bad"), [(0, 1.0), (0, -0.1), (1, 1.5), (1, float("nan"))])
@pytest.mark.parametrize(("name", "key"), keys("betas"), ids=str)
def test_betas_outside_zero_one(name: str, key: str, which: int, bad: float) -> None:
    betas = list(defaults(name)[key])
    betas[which] = bad
    if name in BETA_ONE_ALLOWED:
        if bad == 1.0:
            optim.create(name, params(), **{key: tuple(betas)})
            return
        raises(name, f"{key}[{which}]", repr(bad), re.escape("[0.0, 1.0]"), **{key: tuple(betas)})
    else:
        raises(name, f"{key}[{which}]", repr(bad), re.escape("[0.0, 1.0)"), **{key: tuple(betas)})


@pytest.mark.parametrize(("name", "key"), keys("betas"), ids=str)
def test_betas_must_be_a_pair(name: str, key: str) -> None:
    raises(name, key, "0.9", "a tuple of", **{key: 0.9})


FLAGS = [(n, k) for n in NAMES for k, v in defaults(n).items() if isinstance(v, bool)]


@pytest.mark.parametrize(("name", "key"), FLAGS, ids=str)
def test_flags_must_be_bools(name: str, key: str) -> None:
    raises(name, key, "1", "True or False", **{key: 1})


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keyword_lists_the_allowed_ones(name: str) -> None:
    # A TypeError as Python's for an unexpected keyword, and a ValueError (UserError) for the CLI.
    with pytest.raises(TypeError, match=r"unknown hyperparameter 'learning_rate'; allowed: ") as info:
        optim.create(name, params(), learning_rate=0.1)
    assert isinstance(info.value, ValueError)
    listed = str(info.value).split("allowed: ")[1].split(", ")
    assert listed == optim.get(name).keywords()
    assert set(defaults(name)) <= set(listed)


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ValueError, match=r"nesterov=True with momentum=0\.0; allowed: momentum > 0"):
        optim.SGD(params(), lr=0.1, nesterov=True)


def test_nesterov_forbids_dampening() -> None:
    with pytest.raises(ValueError, match=r"nesterov=True with dampening=0\.5; allowed: .*dampening = 0"):
        optim.SGD(params(), lr=0.1, momentum=0.9, nesterov=True, dampening=0.5)
    with pytest.raises(ValueError, match=r"nesterov=True with dampening=0\.5"):
        optim.create("nesterov", params(), dampening=0.5)


def test_sgd_momentum_is_only_bounded_below_as_in_torch() -> None:
    optim.SGD(params(), lr=0.1, momentum=1.5, dampening=-0.1)  # torch.optim.SGD accepts both
    with pytest.raises(ValueError, match=r"sgd: invalid momentum=-0\.1; allowed: a number ≥ 0"):
        optim.SGD(params(), lr=0.1, momentum=-0.1)


@pytest.mark.parametrize(("name", "key"), keys("lr"), ids=str)
def test_add_param_group_validates_the_group(name: str, key: str) -> None:
    opt = optim.create(name, params())
    with pytest.raises(ValueError, match=rf"invalid {key}=-1\.0; allowed"):
        opt.add_param_group({"params": [torch.zeros(4, requires_grad=True)], key: -1.0})
    assert len(opt.param_groups) == 1, "the bad group must not be added"


def test_registry_create_validates() -> None:
    with pytest.raises(ValueError, match=r"adam: invalid eps=0; allowed: a number > 0"):
        optim.create("adam", params(), eps=0)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamx' \(did you mean 'adamax', 'adam' or "
                                         r"'radam'\?\); valid names: .*adam"):
        optim.create("adamx", params())


def test_wrong_types_are_named() -> None:
    with pytest.raises(ValueError, match=r"invalid lr='0\.1'"):
        optim.Adam(params(), lr="0.1")
    with pytest.raises(ValueError, match=r"invalid fused='yes'; allowed: None, True or False"):
        optim.Adam(params(), fused="yes")
    with pytest.raises(TypeError, match="got multiple values for argument 'lr'"):
        optim.Adam(params(), 0.1, lr=0.1)


# One invalid value per row, for every hyperparameter torch.optim's classes check: torch's class raises its own
# message, and ours must carry that message too (after ours), so that code matching torch's text matches ours —
# torch's own test suite does (test/test_optim.py, TestOptimRenewed.test_errors).
TORCH_REFUSALS = [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1.0}),
    ("SGD", {"lr": 0.1, "nesterov": True}),
    ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.0)}), ("Adam", {"betas": (0.0, 1.0)}),
    ("Adam", {"weight_decay": -1}), ("AdamW", {"betas": (1.0, 0.0)}), ("AdamW", {"weight_decay": -1}),
    ("Adagrad", {"lr_decay": -0.5}), ("Adagrad", {"initial_accumulator_value": -1.0}),
    ("RMSprop", {"alpha": -1.0}), ("RMSprop", {"momentum": -1.0}), ("Adadelta", {"rho": 1.1}),
    ("Adamax", {"betas": (0.0, 1.0)}), ("NAdam", {"momentum_decay": -0.2}), ("NAdam", {"betas": (1.0, 0.0)}),
    ("RAdam", {"weight_decay": -1}), ("RAdam", {"eps": -1e-8}),
    ("Muon", {"lr": -1.0}), ("Muon", {"weight_decay": -1.0}), ("Muon", {"momentum": -1.0}),
    ("Muon", {"adjust_lr_fn": "arbitrary"}),
]  # (torch's Muon refuses ns_steps ≥ 100 only at the step; ours at construction, with torch's words too)


@pytest.mark.parametrize(("name", "hyper"), TORCH_REFUSALS, ids=str)
def test_refusal_carries_torchs_message(name: str, hyper: dict[str, Any]) -> None:
    matrix = [torch.zeros(3, 2, requires_grad=True)]  # torch's Muon takes matrices only
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)(matrix, **hyper)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)(matrix, **hyper)
    assert isinstance(ours.value, HyperparameterError)
    assert str(theirs.value) in str(ours.value)
    assert str(ours.value).startswith(f"{optim.__dict__[name].rule.name}: ")  # ours first: rule, value, allowed
