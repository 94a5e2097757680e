"""The generated fused step (``rules/generated.py``): when it runs, how it is switched off, and its fallback.

Its equality with the readable rules is proven with the other paths, in ``tests/optim/test_equivalence.py`` and
``tests/optim/test_beyond_torch.py`` (``fused=True``)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from descentlab import optim
from descentlab.rules import generated
from tests.optim.harness import loss_fn, small_mlp


def _train(opt_cls: type, fused: bool | None, steps: int = 5, **hyper):
    model = small_mlp(torch.float32)
    opt = opt_cls(model.parameters(), fused=fused, **hyper)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = torch.randn(16, 6, generator=gen), torch.randint(0, 3, (16,), generator=gen)
        opt.zero_grad()
        loss_fn(model, x, y).backward()
        opt.step()
    return model, opt


def test_automatic_choice_keeps_small_groups_on_the_readable_rule(monkeypatch) -> None:
    monkeypatch.delenv(generated.ENV_VAR, raising=False)
    assert generated.mode() == "auto"
    just_below = [torch.empty(generated.AUTO_MIN_NUMEL // 2), torch.empty(generated.AUTO_MIN_NUMEL // 2 - 1)]
    assert not generated.wanted(just_below, required=False)
    assert generated.wanted([*just_below, torch.empty(1)], required=False) == generated.available()
    assert generated.wanted([torch.empty(10)], required=True) == generated.available()
    calls = generated.fused_step(optim.Adamax.rule).compiled_calls
    _train(optim.Adamax, None)  # a small MLP: compiling would cost more than it saves
    assert generated.fused_step(optim.Adamax.rule).compiled_calls == calls


@pytest.mark.parametrize("value, small, required", [("0", False, False), ("1", True, True), ("auto", False, True),
                                                    ("", False, True)])
def test_environment_variable(monkeypatch, value: str, small: bool, required: bool) -> None:
    monkeypatch.setenv(generated.ENV_VAR, value)
    ten = [torch.empty(10)]
    assert generated.wanted(ten, required=False) is (small and generated.available())
    assert generated.wanted(ten, required=True) is (required and generated.available())


def test_environment_variable_off_runs_the_readable_rule_even_with_fused_true(monkeypatch) -> None:
    monkeypatch.setenv(generated.ENV_VAR, "0")
    calls = generated.fused_step(optim.Adamax.rule).compiled_calls
    model, _ = _train(optim.Adamax, True)
    ref, _ = _train(optim.Adamax, False)
    assert generated.fused_step(optim.Adamax.rule).compiled_calls == calls
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.equal(p, q)  # the very same path


def test_bad_environment_value_warns_once_and_means_auto(monkeypatch) -> None:
    monkeypatch.setenv(generated.ENV_VAR, "yes-please")
    with pytest.warns(RuntimeWarning, match="DESCENTLAB_COMPILE='yes-please' is not one of 0, 1, auto"):
        assert generated.mode() == "auto"


def test_a_compiler_failure_falls_back_to_the_readable_rule_with_one_warning(monkeypatch, caplog) -> None:
    """On a machine where torch.compile fails (no C++ compiler, …) the step is the readable rule's, warned once."""

    def broken(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no working C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    # A rule of its own, so that no program compiled by another test is reused.
    cls = type("AdamaxTest", (optim.Adamax,), {"rule": dataclasses.replace(optim.Adamax.rule, name="adamax-test")})
    generated._WARNED.discard(("failed", cls.rule.name))
    message = (r"generated fused step of .* could not be compiled \(RuntimeError: no working C\+\+ compiler "
               r"found\); using the readable rule")
    with caplog.at_level(logging.WARNING, logger=generated.__name__), pytest.warns(RuntimeWarning, match=message):
        model, opt = _train(cls, True, steps=3)
    assert len([r for r in caplog.records if "could not be compiled" in r.getMessage()]) == 1
    assert generated.fused_step(cls.rule).failed
    ref, _ = _train(optim.Adamax, False, steps=3)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.equal(p, q)


def test_a_changing_learning_rate_does_not_recompile() -> None:
    """Non-zero float hyperparameters are the program's inputs: a schedule changes them without recompiling."""
    model = small_mlp(torch.float64)
    opt = optim.RAdam(model.parameters(), lr=1e-2, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step))
    step = generated.fused_step(optim.RAdam.rule)
    gen = torch.Generator().manual_seed(0)
    for i in range(6):
        x, y = torch.randn(16, 6, generator=gen, dtype=torch.float64), torch.randint(0, 3, (16,), generator=gen)
        opt.zero_grad()
        loss_fn(model, x, y).backward()
        opt.step()
        sched.step()
        if i == 0:
            compiles = step.compiles
    assert step.compiles == compiles and not step.failed
