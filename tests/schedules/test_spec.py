"""Schedules as a user writes them: parsing, one-line errors, and resolution at a run's lr and horizon."""

from __future__ import annotations

import math

import pytest
import torch

from descentlab.errors import UserError
from descentlab.schedules import Constant, Cosine, MultiStepDecay, OneCycle, StableDecay, Warmup
from descentlab.schedules.spec import (
    ScheduleSpec,
    as_spec,
    parse_schedule,
    schedule_list,
    scheduled_label,
)


def test_a_bare_name_and_parameters_parse_into_a_canonical_label() -> None:
    assert parse_schedule("cosine") == ScheduleSpec("cosine")
    spec = parse_schedule(" Cosine( warmup_steps=100, eta_min=1e-5 ) ")
    assert spec == ScheduleSpec("cosine", (("eta_min", 1e-5), ("warmup_steps", 100)))
    assert spec.label == "cosine(eta_min=1e-05,warmup_steps=100)"
    assert parse_schedule(spec.label) == spec  # the label reads back as the same schedule
    assert parse_schedule("cosine_restarts(T_0=10)").name == "cosine-restarts"


def test_values_are_literals_tuples_and_bare_words() -> None:
    spec = parse_schedule("multistep(milestones=(30,60),gamma=0.5)")
    assert dict(spec.params) == {"milestones": (30, 60), "gamma": 0.5}
    assert dict(parse_schedule("wsd(decay=cosine)").params) == {"decay": "cosine"}
    assert dict(parse_schedule("onecycle(three_phase=True)").params) == {"three_phase": True}
    assert parse_schedule("multistep(milestones=[0.5])").label == "multistep(milestones=(0.5,))"


def test_a_list_splits_at_commas_outside_parentheses() -> None:
    specs = schedule_list("constant,cosine(warmup_steps=0.1)")
    assert [s.label for s in specs] == ["constant", "cosine(warmup_steps=0.1)"]
    mixed = schedule_list(["constant", {"name": "step", "step_size": 10}])
    assert mixed[1] == ScheduleSpec("step", (("step_size", 10),))
    assert as_spec(specs[1]) is specs[1]


@pytest.mark.parametrize(("text", "expected"), [
    ("cosin", "unknown schedule 'cosin' (did you mean 'cosine'?); valid names: constant, step,"),
    ("cosine(foo=1)", "unknown parameter(s) foo; allowed: base, T_max, eta_min, warmup_steps, warmup_start_factor"),
    ("step", "schedule 'step' needs step_size"),
    ("cosine(warmup_steps=", "unbalanced '('"),
    ("cosine)", "unbalanced ')'"),
    ("cosine(1)", "parameters must be given as key=value"),
    ("cosine(eta_min=1+x)", "eta_min= must be a number"),
    ("cosine(eta_min=1e999)", "is not a finite number"),
    ("cosine,,step(step_size=2)", "has an empty item"),
    ("constant,constant", "lists constant twice"),
])
def test_bad_input_is_one_line_naming_it(text: str, expected: str) -> None:
    with pytest.raises(UserError) as err:
        schedule_list(text)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_peak_is_the_runs_lr_and_the_horizon_its_updates() -> None:
    assert parse_schedule("constant").resolve(0.1, 50).schedule == Constant(0.1)
    assert parse_schedule("cosine").resolve(0.1, 50).schedule == Cosine(0.1, 50)
    assert parse_schedule("cosine(base=0.5,T_max=20)").resolve(0.1, 50).schedule == Cosine(0.5, 20)
    assert parse_schedule("onecycle").resolve(0.1, 50).schedule == OneCycle(0.1, 50)
    assert parse_schedule("wsd").resolve(0.1, 50).schedule == Warmup(StableDecay(0.1, 50, 5), 0)


def test_warmup_then_cosine_ends_with_the_run() -> None:
    run = parse_schedule("cosine(warmup_steps=0.1)").resolve(0.2, 100)
    assert run.label == "cosine(warmup_steps=0.1)"
    assert run.schedule == Warmup(Cosine(0.2, 90), 10)
    values = [run(k) for k in range(100)]
    assert values[0] == 0.0 and values[5] == pytest.approx(0.1) and values[10] == pytest.approx(0.2)
    assert max(values) == pytest.approx(0.2)
    assert values[99] == pytest.approx(0.2 * (1 + math.cos(math.pi * 89 / 90)) / 2)
    # warm-up in absolute updates, and fractions of each step-count parameter
    assert parse_schedule("cosine(warmup_steps=30)").resolve(0.2, 100).schedule == Warmup(Cosine(0.2, 70), 30)
    ms = parse_schedule("multistep(milestones=(0.5,0.75))").resolve(1.0, 200).schedule
    assert ms == MultiStepDecay(1.0, (100, 150))


def test_a_horizon_too_short_for_the_schedule_is_one_line() -> None:
    with pytest.raises(UserError, match=r"warmup_steps=100 leaves no update of the run's 100"):
        parse_schedule("cosine(warmup_steps=100)").resolve(0.1, 100)
    with pytest.raises(UserError, match=r"for a run of 3 updates: OneCycle: pct_start"):
        parse_schedule("onecycle").resolve(0.1, 3)
    with pytest.raises(UserError, match="no lr to start from; give base="):
        parse_schedule("cosine").resolve(None, 10)


def test_labels_name_the_schedule() -> None:
    assert scheduled_label("adam", None) == "adam"
    assert scheduled_label("adam", "cosine") == "adam (cosine)"
    assert scheduled_label("sgd (momentum=0.9)", "cosine") == "sgd (momentum=0.9, cosine)"


@pytest.mark.parametrize("text", ["step(step_size=1,gamma=0.9999999)", "cosine(eta_min=1.23456789e-05)",
                                  "cosine(warmup_steps=0.123456789)"])
def test_the_label_reads_back_as_the_exact_schedule_typed(text: str) -> None:
    # The CLI and the Python API store the label in the experiment's spec and train from it: a label that rounds
    # (gamma=0.9999999 → "gamma=1") trains another schedule than the one typed.
    spec = parse_schedule(text)
    assert parse_schedule(spec.label) == spec
    assert parse_schedule(spec.label).resolve(0.1, 100).schedule == spec.resolve(0.1, 100).schedule


def test_two_schedules_differing_past_six_digits_are_two_schedules() -> None:
    specs = schedule_list("cosine(eta_min=1.0000001e-5),cosine(eta_min=1.0000002e-5)")
    assert len({s.label for s in specs}) == 2


@pytest.mark.parametrize("text", ["cosine(eta_min=" + "-" * 5000 + "1)",
                                  "cosine(eta_min=" + "(" * 300 + "1" + ")" * 301])
def test_deeply_nested_text_is_a_one_line_error(text: str) -> None:
    with pytest.raises(UserError, match="cannot read its parameters"):
        parse_schedule(text)


def test_a_choice_that_is_not_a_python_name_is_given_quoted_and_the_error_says_so() -> None:
    # wsd's decay "1-sqrt" cannot be a bare word (it reads as 1 minus sqrt): the one-line error shows the quoting.
    with pytest.raises(UserError, match="quoted text such as decay='1-sqrt'"):
        parse_schedule("wsd(decay=1-sqrt)")
    spec = parse_schedule("wsd(decay='1-sqrt')")
    assert parse_schedule(spec.label) == spec
    assert spec.resolve(1.0, 20).schedule(19) == pytest.approx(1 - math.sqrt(0.5))


@pytest.mark.parametrize("given", [
    "ReduceLROnPlateau", "plateau", "OneCycleLR", "StepLR(step_size=3)", "LambdaLR", "pkg.mod:my_schedule",
    ["constant", lambda step: 0.1], torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.ReduceLROnPlateau,
    lambda step: 0.1,
])
def test_torch_schedulers_plateau_and_functions_are_one_line_saying_what_to_write(given) -> None:
    """A torch user's schedule (a name, the class itself, a function) is one line: torch's name with what to write
    here, why reduce-on-plateau is not offered, or where a function goes (RunConfig.build)."""
    with pytest.raises(UserError) as caught:
        schedule_list(given if isinstance(given, (str, list)) else given)
    text = str(caught.value)
    assert "\n" not in text
    assert any(words in text for words in ("is torch's; here write", "is not offered", "RunConfig.build(",
                                           "is a torch lr_scheduler"))


def test_a_run_config_refuses_a_torch_scheduler_class_or_object() -> None:
    """It is callable, but not step -> lr: it failed mid-run with a TypeError."""
    from descentlab.train import RunConfig

    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    for schedule in (torch.optim.lr_scheduler.LambdaLR, torch.optim.lr_scheduler.StepLR(sgd, 3),
                     torch.optim.lr_scheduler.ReduceLROnPlateau):
        with pytest.raises(UserError, match="torch lr_scheduler|is torch's|is not offered"):
            RunConfig.build("digits-mlp", "sgd", {"lr": 0.1}, schedule=schedule)
