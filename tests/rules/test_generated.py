"""The generated fused step (``rules/generated.py``): when it runs, how it is switched off, and its fallback.

Its equality with the readable rules is proven with the other paths, in ``tests/optim/test_equivalence.py`` and
``tests/optim/test_beyond_torch.py`` (``fused=True``)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from torch._dynamo.utils import counters

from descentlab import optim
from descentlab.rules import generated
from tests.optim.harness import assert_close_rel, loss_fn, small_mlp


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


@pytest.mark.parametrize("value, compiled", [("auto", False), ("1", True), ("0", False)])
def test_a_rule_that_does_not_compile_by_default_keeps_its_readable_step(monkeypatch, value: str,
                                                                          compiled: bool) -> None:
    # SGD-schedulefree declares compile_by_default=False (its readable step was measured faster): a large group
    # stays on the readable rule under "auto", and compiles only when asked (DESCENTLAB_COMPILE=1 or fused=True).
    monkeypatch.setenv(generated.ENV_VAR, value)
    rule = optim.SGDScheduleFree.rule
    assert rule.compile_by_default is False and optim.AdamWScheduleFree.rule.compile_by_default is True
    big = [torch.zeros(generated.AUTO_MIN_NUMEL)]
    opt = optim.SGDScheduleFree(big, lr=0.1)
    assert (opt._kernel(opt.param_groups[0], big) is not None) is (compiled and generated.available())
    assert generated.wanted(big, required=False, by_default=False) is (compiled and generated.available())
    assert generated.wanted(big, required=True, by_default=False) is (value != "0" and generated.available())
    assert generated.wanted(big, required=False) is (value != "0" and generated.available())


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


# --- elementwise rules: 1-D views, one program for every pattern of dimensions ---------------------------------

# Every optimizer whose rule declares ``elementwise``, with options that create or touch every state tensor (SGD's
# momentum buffer is created by its first update: stored back in the parameter's shape).
ELEMENTWISE = {
    "sgd": (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    "adam": (optim.Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    "adamw": (optim.AdamW, {"lr": 0.01}),
    "adagrad": (optim.Adagrad, {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.1}),
    "rmsprop": (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
    "adadelta": (optim.Adadelta, {"lr": 0.5, "weight_decay": 0.1, "maximize": True}),
    "adamax": (optim.Adamax, {"lr": 0.01, "weight_decay": 0.1}),
    "nadam": (optim.NAdam, {"lr": 0.01, "weight_decay": 0.1}),
    "radam": (optim.RAdam, {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    "lion": (optim.Lion, {"lr": 0.001, "weight_decay": 0.1}),
    "sgd-schedulefree": (optim.SGDScheduleFree, {"lr": 0.1, "warmup_steps": 2}),
    "adamw-schedulefree": (optim.AdamWScheduleFree, {"lr": 0.01, "weight_decay": 0.1}),
}
# A convolutional network's tensors: 4-d convolution weights, 1-d biases and norms, 2-d linear weights.
MIXED = [(3, 2, 2, 2), (3,), (3,), (5, 12), (5,), (2, 3, 1, 1)]


def _mixed(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(1)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in MIXED]


def _grads(params: list[torch.Tensor], i: int) -> None:
    gen = torch.Generator().manual_seed(100 + i)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype) + p.detach()


def test_only_muon_is_not_elementwise() -> None:
    """Muon orthogonalizes matrices (a shape, matrix products): it must not be stepped on 1-D views."""
    from descentlab.optim import registry
    from descentlab.optim.capabilities import rule_of

    found = [rule_of(registry.get(name).cls) for name in registry.names() if isinstance(registry.get(name).cls, type)]
    rules = {rule.name: rule for rule in found if rule is not None}
    assert {name for name, rule in rules.items() if not rule.elementwise} == {"muon"}
    assert set(ELEMENTWISE) == {name for name, rule in rules.items() if rule.elementwise}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_rule_on_mixed_dimensions_equals_the_readable_rule(name: str, dtype: torch.dtype) -> None:
    """The generated step on flattened views equals the readable rule (parameters, every state tensor and its
    shape) on 4-d, 1-d and 2-d parameters, with one compiled program for the whole list."""
    cls, hyper = ELEMENTWISE[name]
    if cls.rule.fused is not None:  # torch's kernel would be taken: a copy of the rule without it
        cls = type(cls.__name__ + "Generated", (cls,), {"rule": dataclasses.replace(cls.rule, fused=None)})
    step = generated.fused_step(cls.rule)
    compiles, calls = step.compiles, step.compiled_calls
    ours, ref = _mixed(dtype), _mixed(dtype)
    opt_ours, opt_ref = cls(ours, fused=True, **hyper), cls(ref, fused=False, **hyper)
    if cls.rule.averaged_iterate:  # schedule-free: trained at y
        opt_ours.train(), opt_ref.train()
    for i in range(3):
        for params, opt in ((ours, opt_ours), (ref, opt_ref)):
            _grads(params, i)
            opt.step()
    assert step.compiled_calls == calls + 3 and not step.failed
    assert step.compiles - compiles <= 1  # one program (none where an earlier test of this dtype compiled it)
    rtol = {torch.float64: 1e-10, torch.float32: 1e-5}[dtype]
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close_rel(a.detach(), b.detach(), rtol, f"{name} parameter {i}")
        sa, sb = opt_ours.state[a], opt_ref.state[b]
        assert sorted(sa) == sorted(sb)
        for key, va in sa.items():
            if torch.is_tensor(va):
                assert va.shape == sb[key].shape, f"{name} state {key} shape"
                assert_close_rel(va.double(), sb[key].double(), rtol, f"{name} state {key} of parameter {i}")


def test_one_program_per_chunk_length_whatever_the_dimensions() -> None:
    """36 tensors of 4-d, 2-d and 1-d shapes in a network's varying order: chunks of 16, 16 and 4 tensors whose
    patterns of dimensions all differ (three programs if keyed by them), two programs (16 and 4 tensors), each
    compiled once."""
    conv = [(2, 3, 2, 2), (2,), (2,), (2,)]  # weight, bias, norm weight and bias
    linear = [(4, 3), (4,)]
    shapes = conv * 3 + linear * 2 + linear * 4 + conv * 2 + [(3,), (1, 1, 2, 2), (5, 2), (3,)]
    patterns = {tuple(len(s) for s in shapes[i:i + generated.CHUNK]) for i in range(0, len(shapes), generated.CHUNK)}
    assert len(shapes) == 36 and len(patterns) == 3
    rule = dataclasses.replace(optim.Adamax.rule, name="adamax-flat")
    step = generated.fused_step(rule)
    params = [torch.randn(s, dtype=torch.float64) for s in shapes]
    grads = [torch.randn(s, dtype=torch.float64) for s in shapes]
    h = rule.resolve({"weight_decay": 0.1})
    states = [rule.init_state(p, h) for p in params]
    expected = [p.clone() for p in params]
    expected_states = [rule.init_state(p, h) for p in params]
    graphs = counters["stats"]["unique_graphs"]  # what dynamo compiled, recompilations of a program included
    with torch.no_grad():
        for _ in range(2):
            assert step(params, grads, states, h)
            for p, g, s in zip(expected, grads, expected_states):
                rule.update(p, g, s, h)
    assert step.compiles == 2 and step.compiled_calls == 6 and not step.failed
    # Not recompiled for the 4-d bases of the views, nor for which sizes of a chunk are equal.
    assert counters["stats"]["unique_graphs"] - graphs == 2
    assert sorted(len(k[2]) for k in step._programs) == [4, 16]
    for p, q, s, t in zip(params, expected, states, expected_states):
        assert_close_rel(p, q, 1e-10, "parameter")  # the views' in-place updates reached the real tensors
        for key in ("exp_avg", "exp_inf"):
            assert s[key].shape == p.shape
            assert_close_rel(s[key], t[key], 1e-10, key)


def test_tensors_that_cannot_be_viewed_keep_their_shape() -> None:
    """A channels-last 4-d and a transposed 2-d parameter are not flattened (a view would need a copy, which
    would not be updated in place): their numbers of dimensions stay in the program's key, the numbers equal."""
    rule = dataclasses.replace(optim.NAdam.rule, name="nadam-strided")
    step = generated.fused_step(rule)
    params = [torch.randn(2, 3, 2, 2, dtype=torch.float64).to(memory_format=torch.channels_last),
              torch.randn(4, 3, dtype=torch.float64).t(), torch.randn(3, 2, dtype=torch.float64)]
    grads = [torch.randn_like(p) for p in params]
    h = rule.resolve({})
    states, expected_states = [rule.init_state(p, h) for p in params], [rule.init_state(p, h) for p in params]
    expected = [p.clone(memory_format=torch.preserve_format) for p in params]
    with torch.no_grad():
        assert step(params, grads, states, h)
        for p, g, s in zip(expected, grads, expected_states):
            rule.update(p, g, s, h)
    assert [k[2] for k in step._programs] == [(4, 2, 1)] and not step.failed
    for p, q, s, t in zip(params, expected, states, expected_states):
        assert_close_rel(p, q, 1e-10, "parameter")
        assert_close_rel(s["exp_avg"], t["exp_avg"], 1e-10, "exp_avg")
