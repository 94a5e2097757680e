"""Bad arguments raise a one-line UserError naming the argument; the registry builds schedules by name."""

from __future__ import annotations

import dataclasses

import pytest

from descentlab.errors import UserError
from descentlab.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    ExponentialDecay,
    InverseSqrt,
    MultiStepDecay,
    OneCycle,
    PolynomialDecay,
    ReduceOnPlateau,
    StableDecay,
    StepDecay,
    Warmup,
    make_schedule,
    wsd,
)

BAD = [
    (StepDecay, dict(base=0.1, step_size=-3), "step_size"),
    (StepDecay, dict(base=0.1, step_size=0), "step_size"),
    (StepDecay, dict(base=0.1, step_size=2.5), "step_size"),
    (StepDecay, dict(base=0.1, step_size=True), "step_size"),
    (StepDecay, dict(base=float("nan"), step_size=3), "base"),
    (StepDecay, dict(base=0.1, step_size=3, gamma=-0.5), "gamma"),
    (MultiStepDecay, dict(base=0.1, milestones=[3, -1]), "milestones"),
    (ExponentialDecay, dict(base=0.1, gamma="0.9"), "gamma"),
    (PolynomialDecay, dict(base=0.1, total_iters=0), "total_iters"),
    (PolynomialDecay, dict(base=0.1, total_iters=5, power=-1.0), "power"),
    (Cosine, dict(base=0.1, T_max=0), "T_max"),
    (Cosine, dict(base=0.1, T_max=-5), "T_max"),
    (Cosine, dict(base=0.1, T_max=10, eta_min=float("inf")), "eta_min"),
    (CosineRestarts, dict(base=0.1, T_0=0), "T_0"),
    (CosineRestarts, dict(base=0.1, T_0=5, T_mult=0), "T_mult"),
    (CosineRestarts, dict(base=0.1, T_0=5, T_mult=1.5), "T_mult"),
    (Warmup, dict(schedule=Constant(1.0), warmup_steps=-1), "warmup_steps"),
    (Warmup, dict(schedule=Constant(1.0), warmup_steps=5, start_factor=1.5), "start_factor"),
    (Warmup, dict(schedule=0.1, warmup_steps=5), "schedule"),
    (OneCycle, dict(max_lr=0.1, total_steps=0), "total_steps"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, pct_start=1.2), "pct_start"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, pct_start=1.0), "pct_start"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True), "pct_start"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, anneal_strategy="cosine"), "anneal_strategy"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, div_factor=0), "div_factor"),
    (Cyclic, dict(base_lr=0.1, max_lr=1.0, step_size_up=0), "step_size_up"),
    (Cyclic, dict(base_lr=0.1, max_lr=1.0, step_size_down=-2), "step_size_down"),
    (Cyclic, dict(base_lr=0.1, max_lr=1.0, mode="triangle"), "mode"),
    (StableDecay, dict(peak=1.0, total_steps=10, decay_steps=11), "decay_steps"),
    (StableDecay, dict(peak=1.0, total_steps=10, decay_steps=5, decay="sqrt"), "decay"),
    (wsd, dict(peak=1.0, total_steps=100, decay_fraction=0.0), "decay_fraction"),
    (wsd, dict(peak=1.0, total_steps=100, warmup_steps=95, decay_fraction=0.1), "warmup_steps"),
    (InverseSqrt, dict(peak=1.0, warmup_steps=0), "warmup_steps"),
    (ReduceOnPlateau, dict(initial=0.1, factor=1.0), "factor"),
    (ReduceOnPlateau, dict(initial=0.1, mode="minimum"), "mode"),
    (ReduceOnPlateau, dict(initial=0.1, threshold_mode="relative"), "threshold_mode"),
    (ReduceOnPlateau, dict(initial=0.1, patience=-1), "patience"),
    (ReduceOnPlateau, dict(initial=0.1, cooldown=0.5), "cooldown"),
]


@pytest.mark.parametrize(("factory", "kwargs", "name"), BAD, ids=[f"{f.__name__}-{n}" for f, _, n in BAD])
def test_bad_argument_raises_user_error_naming_it(factory, kwargs, name: str) -> None:
    with pytest.raises(UserError) as info:
        factory(**kwargs)
    message = str(info.value)
    assert name in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)  # code written against torch.optim keeps working


def test_negative_step_is_refused() -> None:
    with pytest.raises(UserError, match="step must be >= 0"):
        Cosine(0.1, 10)(-1)


def test_schedules_are_frozen_and_round_trip_through_asdict() -> None:
    s = Cosine(0.1, 10, 0.01)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.T_max = 3  # type: ignore[misc]
    assert Cosine(**dataclasses.asdict(s)) == s
    assert MultiStepDecay(1.0, [30, 10]).milestones == (10, 30)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UserError) as info:
        make_schedule("cosin", base=0.1, T_max=10)
    message = str(info.value)
    assert "'cosin'" in message
    for name in SCHEDULES:
        assert name in message


def test_unknown_and_missing_arguments() -> None:
    with pytest.raises(UserError, match=r"unknown argument\(s\) tmax; allowed: base, T_max, eta_min"):
        make_schedule("cosine", base=0.1, tmax=10)
    with pytest.raises(UserError, match="T_max"):
        make_schedule("cosine", base=0.1)
    with pytest.raises(UserError, match="T_max must be an integer >= 1"):
        make_schedule("cosine", base=0.1, T_max=0)


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("constant", dict(value=0.5), Constant(0.5)),
        ("step", dict(base=1.0, step_size=3), StepDecay(1.0, 3)),
        ("multistep", dict(base=1.0, milestones=[2, 5]), MultiStepDecay(1.0, (2, 5))),
        ("exponential", dict(base=1.0, gamma=0.9), ExponentialDecay(1.0, 0.9)),
        ("polynomial", dict(base=1.0, total_iters=8, power=2.0), PolynomialDecay(1.0, 8, 2.0)),
        ("cosine", dict(base=1.0, T_max=8), Cosine(1.0, 8)),
        ("cosine-restarts", dict(base=1.0, T_0=4, T_mult=2), CosineRestarts(1.0, 4, 2)),
        ("onecycle", dict(max_lr=1.0, total_steps=20), OneCycle(1.0, 20)),
        ("cyclic", dict(base_lr=0.1, max_lr=1.0, step_size_up=4), Cyclic(0.1, 1.0, 4)),
        ("wsd", dict(peak=1.0, total_steps=20, warmup_steps=2), wsd(1.0, 20, 2)),
        ("inverse-sqrt", dict(peak=1.0, warmup_steps=4), InverseSqrt(1.0, 4)),
        ("cosine", dict(base=1.0, T_max=8, warmup_steps=3), Warmup(Cosine(1.0, 8), 3)),
        (
            "step",
            dict(base=1.0, step_size=3, warmup_steps=3, warmup_start_factor=0.5),
            Warmup(StepDecay(1.0, 3), 3, 0.5),
        ),
    ],
)
def test_registry_builds_the_named_schedule(name: str, kwargs: dict, expected) -> None:
    assert set(SCHEDULES) >= {name}
    built = make_schedule(name, **kwargs)
    assert built == expected
    assert [built(k) for k in range(30)] == [expected(k) for k in range(30)]


def test_package_docstring_example_runs() -> None:
    import doctest

    import descentlab.schedules

    result = doctest.testmod(descentlab.schedules, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
