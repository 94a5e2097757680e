"""The benchmark's trials: stated search spaces, one fixed search sequence, budgets as nested prefixes."""

from __future__ import annotations

import pytest

from descentlab.errors import UserError
from descentlab.experiments.benchmark import SEARCH_SPACE, TUNING_SEED, BenchmarkSpec, Param
from descentlab.experiments.runner import Trial

SPEC = BenchmarkSpec(tasks=("digits-mlp",), optimizers=("sgd", "nesterov", "adam", "rmsprop"), budgets=(1, 4, 8),
                     seeds=2, epochs=1)


def test_each_optimizer_tunes_what_it_has_with_a_default_inside_the_range():
    assert [p.name for p in SPEC.space("sgd")] == ["lr"]  # momentum 0 would make it another optimizer
    assert [p.name for p in SPEC.space("nesterov")] == ["lr", "momentum"]
    assert [p.name for p in SPEC.space("adam")] == ["lr", "beta1", "beta2"]
    assert [p.name for p in SPEC.space("rmsprop")] == ["lr", "alpha"]
    assert [p.name for p in SPEC.space("adam(betas=(0.0,0.999))")] == ["lr", "beta2"]


def test_trial_zero_is_the_defaults_and_the_others_lie_in_the_stated_ranges():
    points = SPEC.points("adam")
    assert len(points) == 8 and points[0] == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999}
    ranges = {p.name: p for p in SEARCH_SPACE}
    for point in points[1:]:
        assert all(ranges[name].low <= value <= ranges[name].high for name, value in point.items())
    assert len({tuple(p.values()) for p in points}) == 8
    lrs = sorted(p["lr"] for p in points[1:])
    assert lrs[0] < 1e-2 < lrs[-1]  # quasi-random: spread over the log range, not clumped


def test_budgets_are_nested_prefixes_and_the_same_spec_gives_the_same_trials():
    small = BenchmarkSpec(tasks=("digits-mlp",), optimizers=("adam",), budgets=(1, 4), epochs=1)
    assert small.points("adam") == SPEC.points("adam")[:4]
    keys = [Trial.of(c).key for c in SPEC.tuning_configs()]
    assert keys == [Trial.of(c).key for c in BenchmarkSpec(**SPEC.__dict__).tuning_configs()]
    assert len(keys) == len(set(keys)) == 4 * 8
    assert {c.seed for c in SPEC.tuning_configs()} == {TUNING_SEED}
    other = BenchmarkSpec(**{**SPEC.__dict__, "search_seed": 1})
    assert other.points("adam")[0] == SPEC.points("adam")[0] and other.points("adam")[1] != SPEC.points("adam")[1]


def test_evaluation_reruns_each_selection_once_at_fresh_seeds():
    chosen = {("digits-mlp", "adam", 1): 0, ("digits-mlp", "adam", 4): 3, ("digits-mlp", "adam", 8): 3,
              ("digits-mlp", "sgd", 1): None}
    configs = SPEC.evaluation_configs(chosen)
    assert [(c.optimizer, c.seed, c.hyperparameters["lr"]) for c in configs] == [
        ("adam", 1, 0.001), ("adam", 2, 0.001),
        ("adam", 1, SPEC.points("adam")[3]["lr"]), ("adam", 2, SPEC.points("adam")[3]["lr"])]


def test_a_search_value_is_log_uniform_or_one_minus_log_uniform():
    assert Param("lr", 1e-4, 1.0).value(0.5) == 0.01
    assert Param("momentum", 0.5, 0.999, "one-minus-log").value(0.0) == 0.999
    assert Param("momentum", 0.5, 0.999, "one-minus-log").value(1.0) == 0.5


@pytest.mark.parametrize("change, message", [
    ({"budgets": (0,)}, "--budget 0: each budget must be a whole number ≥ 1"),
    ({"budgets": (8, 4)}, "--budget 8,4: give increasing budgets, each once"),
    ({"seeds": 0}, "--seeds 0 must be a whole number ≥ 1"),
    ({"tasks": ("digits-mlp", "digits-mlp")}, "names a task twice"),
    ({"tasks": ("no-such-task",)}, "unknown task 'no-such-task'"),
    ({"optimizers": ("adam", "adm")}, "unknown optimizer 'adm'"),
])
def test_bad_specs_are_refused_naming_the_value(change, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        BenchmarkSpec(**{**SPEC.__dict__, **change}).check()
