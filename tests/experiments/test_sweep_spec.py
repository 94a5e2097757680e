"""SweepSpec: learning rates, expansion into RunConfigs (seeds × listed hyperparameters), validation."""

from __future__ import annotations

import pytest

from descentlab.errors import UserError
from descentlab.experiments.runner import Trial
from descentlab.experiments.sweep import SweepSpec, learning_rates, round_sig
from descentlab.grid import extras_of, variant_label


def test_learning_rates_are_log_spaced_rounded_and_inclusive():
    assert learning_rates(1e-4, 1.0, 5) == (1e-4, 1e-3, 1e-2, 0.1, 1.0)
    assert learning_rates(1e-3, 0.1, 4) == (0.001, 0.004642, 0.02154, 0.1)
    assert learning_rates(0.3, 0.3, 1) == (0.3,)
    assert learning_rates(1e-3, 1.0, 1) == (1e-3,)
    assert round_sig(0.0031622776601683794) == 0.003162 and repr(round_sig(1 / 3)) == "0.3333"


def test_expansion_counts_order_and_extra_hyperparameters():
    spec = SweepSpec(task="digits-mlp", optimizers=("sgd", "adam"), lr_min=1e-3, lr_max=1e-1, points=3, seeds=2,
                     epochs=1, grid=(("momentum", (0.8, 0.9)), ("beta1", (0.8, 0.9, 0.95))))
    configs = spec.configs()
    assert len(configs) == 3 * 2 * 2 + 3 * 3 * 2  # sgd: lr × momentum × seed; adam: lr × beta1 × seed
    assert spec.skipped() == [("sgd", "beta1"), ("adam", "momentum")]
    assert spec.applicable() == {"sgd": ("momentum",), "adam": ("beta1",)}
    sgd = [c for c in configs if c.optimizer == "sgd"]
    assert [(c.hyperparameters["lr"], c.hyperparameters["momentum"], c.seed) for c in sgd[:5]] == [
        (0.001, 0.8, 0), (0.001, 0.8, 1), (0.001, 0.9, 0), (0.001, 0.9, 1), (0.01, 0.8, 0)]
    adam = [c for c in configs if c.optimizer == "adam"]
    assert {tuple(c.hyperparameters["betas"]) for c in adam} == {(0.8, 0.999), (0.9, 0.999), (0.95, 0.999)}
    assert {c.hyperparameters["eps"] for c in adam} == {1e-8}  # the rest at the preset's defaults
    assert len({Trial.of(c).key for c in configs}) == len(configs)
    assert {c.epochs for c in configs} == {1} and {c.batch_size for c in configs} == {32}


def test_keras_preset_defaults_stay_but_the_lr_is_swept():
    spec = SweepSpec(task="digits-mlp", optimizers=("adam",), lr_min=1e-3, lr_max=1e-2, points=2, preset="keras")
    configs = spec.configs()
    assert [c.hyperparameters["lr"] for c in configs] == [0.001, 0.01]
    assert all(c.hyperparameters["eps"] == 1e-7 and c.hyperparameters["eps_hat"] for c in configs)
    assert {c.init for c in configs} == {"keras"}


def test_to_dict_is_the_identity_without_the_data_dir():
    a = SweepSpec(task="digits-mlp", grid=(("weight_decay", (0.0, 1e-4)),), data_dir="/somewhere")
    b = SweepSpec(task="digits-mlp", grid=(("weight_decay", (0.0, 1e-4)),))
    assert a.to_dict() == b.to_dict()
    assert a.to_dict()["grid"] == {"weight_decay": [0.0, 1e-4]} and "data_dir" not in a.to_dict()


def test_labels_and_extras():
    h = {"lr": 0.1, "betas": [0.8, 0.999], "momentum": 0.9}
    assert extras_of(h, ["beta1", "momentum", "eps"]) == {"beta1": 0.8, "momentum": 0.9}
    assert variant_label("adam", {"beta1": 0.8}) == "adam (beta1=0.8)" and variant_label("sgd", {}) == "sgd"


@pytest.mark.parametrize("changes, message", [
    ({"optimizers": ("sgd", "adamm")}, "unknown optimizer 'adamm'"),
    ({"task": "nope"}, "unknown task 'nope'"),
    ({"lr_min": 1.0, "lr_max": 0.1}, "need 0 < LO ≤ HI"),
    ({"lr_min": 0.0}, "need 0 < LO ≤ HI"),
    ({"points": 0}, "--points 0 must be"),
    ({"lr_min": 0.1, "lr_max": 0.1}, "single rate"),
    ({"seeds": 0}, "--seeds 0"),
    ({"optimizers": ("sgd", "sgd")}, "twice"),
    ({"grid": (("lr", (0.1,)),)}, "swept by --lr"),
    ({"grid": (("beta1", (0.9,)),)}, "none of sgd has a hyperparameter 'beta1'"),
    ({"grid": (("momentum", (-1.0,)),)}, "momentum"),
    ({"preset": "jax"}, "unknown preset"),
])
def test_bad_specs_are_user_errors_before_anything_runs(changes, message):
    spec = SweepSpec(**{"task": "digits-mlp", "optimizers": ("sgd",), **changes})
    with pytest.raises(UserError, match=None) as info:
        spec.configs()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_optimizer_whose_lr_has_no_default_is_swept(tmp_path):
    """``def __init__(self, params, lr, ...)``: every trial of a sweep is given an lr, so the check before
    training builds it with one (it refused it: "missing 1 required positional argument: 'lr'")."""
    path = tmp_path / "needs_lr.py"
    path.write_text("import torch\n\n\ndef NeedsLr(params, lr, momentum=0.0):\n"
                    "    return torch.optim.SGD(params, lr=lr, momentum=momentum)\n")
    spec = SweepSpec(task="digits-mlp", optimizers=(f"{path}:NeedsLr",), lr_min=1e-2, lr_max=1e-1, points=2,
                     epochs=1, grid=(("momentum", (0.0, 0.9)),))
    configs = spec.configs()
    assert sorted((c.hyperparameters["lr"], c.hyperparameters["momentum"]) for c in configs) == [
        (0.01, 0.0), (0.01, 0.9), (0.1, 0.0), (0.1, 0.9)]
