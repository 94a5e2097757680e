"""Drop-in: every class that shares a name with a ``torch.optim`` class behaves as that class.

One table (:data:`PAIRS`), one row per class: ours, torch's, and a few keyword sets in the spirit of torch's own
``optim_db`` (default, each flag, weight decay with ``maximize``…). Every check below runs over every row, the
two optimizers side by side on the same parameters and the same gradients (drawn from a seeded generator, not
from a model: cheap, and identical for both). What is compared: final parameters, state entries, errors.

Deliberate differences (listed in the README's "What drop-in covers"): ε = 0 is refused (:data:`REFUSED_BY_US`);
our ``Muon`` runs AdamW on the parameters that are not matrices (torch's refuses them); our classes take a few
keywords torch's do not (``fused`` everywhere, Keras's ε placements), all keyword-only and last.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor

from descentlab import optim

F64 = torch.float64


@dataclass(frozen=True)
class Pair:
    ours: type[torch.optim.Optimizer]
    theirs: type[torch.optim.Optimizer]
    configs: tuple[dict[str, Any], ...]  # keyword sets (beyond the defaults) every numeric check runs
    sparse: bool = False  # torch takes sparse gradients
    complex: bool = True  # torch takes complex parameters
    matrices: bool = False  # torch takes only 2-D parameters
    rtol: float = 1e-10

    @property
    def name(self) -> str:
        return self.ours.__name__

    def torch_keywords(self) -> set[str]:
        return set(inspect.signature(self.theirs.__init__).parameters) - {"self", "params"}

    def __str__(self) -> str:
        return self.name


PAIRS = [
    Pair(optim.SGD, torch.optim.SGD, ({"lr": 0.1}, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
                                      {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "maximize": True}), sparse=True),
    Pair(optim.Adagrad, torch.optim.Adagrad,
         ({}, {"lr_decay": 0.1, "weight_decay": 0.1, "maximize": True}, {"initial_accumulator_value": 0.5}),
         sparse=True),
    Pair(optim.RMSprop, torch.optim.RMSprop,
         ({}, {"centered": True, "momentum": 0.9, "weight_decay": 0.1}, {"momentum": 0.5, "maximize": True})),
    Pair(optim.Adadelta, torch.optim.Adadelta, ({}, {"rho": 0.5, "weight_decay": 0.1, "maximize": True})),
    Pair(optim.Adam, torch.optim.Adam, ({"lr": 0.01}, {"amsgrad": True, "weight_decay": 0.1, "maximize": True},
                                        {"decoupled_weight_decay": True, "weight_decay": 0.1})),
    Pair(optim.AdamW, torch.optim.AdamW, ({"lr": 0.01}, {"amsgrad": True, "maximize": True})),
    Pair(optim.Adamax, torch.optim.Adamax, ({}, {"weight_decay": 0.1, "maximize": True})),
    Pair(optim.NAdam, torch.optim.NAdam, ({}, {"momentum_decay": 0.01, "weight_decay": 0.1, "maximize": True},
                                          {"decoupled_weight_decay": True, "weight_decay": 0.1})),
    Pair(optim.RAdam, torch.optim.RAdam, ({}, {"weight_decay": 0.1, "maximize": True},
                                          {"decoupled_weight_decay": True, "weight_decay": 0.1})),
    # Newton–Schulz runs in bfloat16 in both: the same operations, hence the same numbers.
    Pair(optim.Muon, torch.optim.Muon, ({}, {"nesterov": False, "adjust_lr_fn": "match_rms_adamw"}),
         complex=False, matrices=True, rtol=1e-6),
]
FUSED = [p for p in PAIRS if "fused" in p.torch_keywords()]
STEPS = 4


# --- side by side --------------------------------------------------------------------------------------------


def make_params(pair: Pair, dtype: torch.dtype = F64, seed: int = 0) -> list[Tensor]:
    """A matrix, a vector and a matrix that never gets a gradient (torch keeps no state for it)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3, 5), (2, 2)] if pair.matrices else [(4, 3), (5,), (2, 2)]
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]


def set_grads(params: list[Tensor], step: int) -> None:
    gen = torch.Generator().manual_seed(100 + step)
    for p in params[:-1]:  # the last one never has a gradient
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)


def cloned(params: list[Tensor]) -> list[Tensor]:
    return [p.detach().clone().requires_grad_() for p in params]


def run(opt: torch.optim.Optimizer, params: list[Tensor], steps: range) -> None:
    for t in steps:
        set_grads(params, t)
        opt.step()


def side_by_side(pair: Pair, kwargs: dict[str, Any], *, ours_kwargs: dict[str, Any] | None = None,
                 dtype: torch.dtype = F64, steps: int = STEPS):
    a = make_params(pair, dtype)
    b = cloned(a)
    ours = pair.ours(a, **kwargs, **(ours_kwargs or {}))
    theirs = pair.theirs(b, **kwargs)
    run(ours, a, range(steps))
    run(theirs, b, range(steps))
    return (a, ours), (b, theirs)


def assert_same(a: list[Tensor], b: list[Tensor], rtol: float, what: str = "parameters") -> None:
    for i, (x, y) in enumerate(zip(a, b)):
        torch.testing.assert_close(x.detach(), y.detach(), rtol=rtol, atol=rtol, msg=lambda m, i=i: f"{what}[{i}]: {m}")


def assert_same_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, a: list[Tensor],
                      b: list[Tensor], rtol: float) -> None:
    """State entries for the same parameters, under the same keys, with the same values, dtypes and devices."""
    assert [i for i, p in enumerate(a) if p in ours.state] == [i for i, p in enumerate(b) if p in theirs.state], \
        "state entries for other parameters than torch's"
    for p, q in zip(a, b):
        if q not in theirs.state:
            continue
        s, t = ours.state[p], theirs.state[q]
        assert set(s) == set(t), f"state keys {sorted(s)} vs torch's {sorted(t)}"
        for k in t:
            if torch.is_tensor(t[k]):
                assert s[k].dtype == t[k].dtype and s[k].device == t[k].device, k
                torch.testing.assert_close(s[k].to_dense(), t[k].to_dense(), rtol=rtol, atol=rtol)


CONFIGS = [(pair, i) for pair in PAIRS for i in range(len(pair.configs))]


def config_id(x: Any) -> str:
    return str(x)


# --- signatures and keywords ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_signature_has_every_torch_parameter_with_its_default_and_kind(pair: Pair) -> None:
    ours = inspect.signature(pair.ours.__init__).parameters
    theirs = inspect.signature(pair.theirs.__init__).parameters
    for name, t in theirs.items():
        assert name in ours, f"{pair}: no {name!r}"
        o = ours[name]
        assert o.kind == t.kind, f"{pair}.{name}: {o.kind} vs torch's {t.kind}"
        assert o.default == t.default, f"{pair}.{name}: default {o.default!r} vs torch's {t.default!r}"
    extra = [n for n in ours if n not in theirs]
    assert all(ours[n].kind is inspect.Parameter.KEYWORD_ONLY for n in extra), extra
    # the defaults written in the signature are the rule's
    for name, o in ours.items():
        if name in pair.ours.rule.defaults:
            assert o.default == pair.ours.rule.defaults[name], name


@pytest.mark.parametrize(("pair", "i"), CONFIGS, ids=config_id)
def test_same_numbers_and_state_as_torch(pair: Pair, i: int) -> None:
    (a, ours), (b, theirs) = side_by_side(pair, pair.configs[i])
    assert_same(a, b, pair.rtol)
    assert_same_state(ours, theirs, a, b, pair.rtol)


@pytest.mark.parametrize("flag", ["foreach", "differentiable", "capturable", "fused"])
@pytest.mark.parametrize("value", [None, True, False])
@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_torch_flags_taken_with_torch_meaning(pair: Pair, flag: str, value: bool | None) -> None:
    if flag not in pair.torch_keywords():
        pytest.skip(f"torch.optim.{pair.name} has no {flag!r}")
    kwargs = {**pair.configs[-1], flag: value}
    try:
        side_by_side(Pair(pair.theirs, pair.theirs, ()), kwargs, steps=1)
    except (RuntimeError, ValueError, TypeError, AssertionError) as e:
        # torch refuses it here (capturable=True on CPU asserts; differentiable=True on leaf parameters cannot
        # update them in place — test_differentiable_step covers it): ours need only accept the keyword.
        pair.ours(make_params(pair), **kwargs)
        pytest.skip(f"torch refuses {flag}={value} here: {type(e).__name__}")
    (a, ours), (b, theirs) = side_by_side(pair, kwargs)
    assert_same(a, b, pair.rtol)
    assert ours.param_groups[0][flag] == theirs.param_groups[0][flag]


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_unknown_keyword_is_a_type_error(pair: Pair) -> None:
    with pytest.raises(TypeError):
        pair.theirs(make_params(pair), lr_rate=0.1)
    with pytest.raises(TypeError):
        pair.ours(make_params(pair), lr_rate=0.1)


# Values torch refuses for some optimizer (each tried on every optimizer that has the keyword), and some it
# accepts that a stricter check might refuse. ε = 0 is refused by us on purpose (see the module docstring).
PROBES: list[tuple[str, Any]] = [
    ("lr", -1e-3), ("lr", 0.0), ("eps", -1e-8), ("weight_decay", -0.1), ("momentum", -0.1), ("momentum", 1.5),
    ("dampening", -0.5), ("alpha", -0.1), ("rho", 1.5), ("rho", -0.1), ("lr_decay", -0.1),
    ("initial_accumulator_value", -0.1), ("momentum_decay", -0.1), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.0)),
    ("betas", (-0.1, 0.999)), ("betas", (0.9, -0.1)), ("adjust_lr_fn", "nope"),
]
# Refused by us whatever torch does: ε ≤ 0 (torch accepts ε = 0 everywhere and Muon's any ε), NaN (torch's
# checks let it through for some classes, e.g. SGD's lr, and not for others).
REFUSED_BY_US: list[tuple[str, Any]] = [("eps", 0.0), ("eps", -1e-8), ("lr", float("nan"))]


def _outcome(cls: type[torch.optim.Optimizer], pair: Pair, key: str, value: Any) -> type[Exception] | None:
    try:
        cls(make_params(pair), **{key: value})
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return type(e)
    return None


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_invalid_values_refused_as_torch_refuses_them(pair: Pair) -> None:
    for key, value in PROBES:
        if key not in pair.torch_keywords() or (key, value) in REFUSED_BY_US:
            continue
        theirs, ours = _outcome(pair.theirs, pair, key, value), _outcome(pair.ours, pair, key, value)
        if theirs is None:
            assert ours is None, f"{pair}({key}={value!r}): torch accepts it, ours raised {ours}"
        else:
            assert theirs is ValueError and ours is not None and issubclass(ours, ValueError), \
                f"{pair}({key}={value!r}): torch raised {theirs.__name__}, ours {ours}"
    for key, value in REFUSED_BY_US:
        if key in pair.torch_keywords():
            ours = _outcome(pair.ours, pair, key, value)
            assert ours is not None and issubclass(ours, ValueError), f"{pair}({key}={value!r})"


@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_fused_with_foreach_or_differentiable_refused_as_torch(pair: Pair) -> None:
    for extra in ({"foreach": True}, {"differentiable": True}):
        for cls in (pair.theirs, pair.ours):
            with pytest.raises(RuntimeError):
                cls(make_params(pair), fused=True, **extra)


@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_fused_on_meta_parameters_refused_at_the_step_in_torchs_words(pair: Pair) -> None:
    """A model built on the meta device (no memory yet) with ``fused=True``: its step is refused with torch's
    message (device and dtype named); after ``zero_grad`` the optimizer steps again."""
    messages = []
    for cls in (pair.theirs, pair.ours):
        with torch.device("meta"):
            model = torch.nn.Linear(2, 3)
        opt = cls(model.parameters(), fused=True)
        with torch.device("meta"):
            for p in model.parameters():
                p.grad = torch.rand_like(p)
        with pytest.raises(RuntimeError) as info:
            opt.step()
        messages.append(str(info.value))
        opt.zero_grad(set_to_none=True)
        model.to_empty(device="cpu")
        for p in model.parameters():
            p.grad = torch.rand_like(p)
        opt.step()  # as torch's own test: no error once the gradients are set to None
    prefix = "`fused=True` requires all the params to be floating point Tensors of supported devices: "
    for message in messages:
        assert message.startswith(prefix) and message.endswith(" but torch.float32 and meta"), message


# --- tensor hyperparameters ----------------------------------------------------------------------------------


def _tensor_lr_kwargs(pair: Pair, lr: Tensor) -> dict[str, Any]:
    kwargs: dict[str, Any] = {**pair.configs[0], "lr": lr}
    if "betas" in inspect.signature(pair.theirs.__init__).parameters and pair.theirs in (torch.optim.Adam,
                                                                                         torch.optim.AdamW):
        kwargs["betas"] = (lr.new_tensor(0.9).reshape(lr.shape), lr.new_tensor(0.999).reshape(lr.shape))
    return kwargs


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)], ids=str)
@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_one_element_tensor_lr_and_betas_are_scalars(pair: Pair, shape: tuple[int, ...]) -> None:
    lr = torch.full(shape, pair.configs[0].get("lr", 0.01), dtype=F64)
    (a, _), (b, _) = side_by_side(pair, _tensor_lr_kwargs(pair, lr))
    assert_same(a, b, pair.rtol)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_multi_element_tensor_lr_refused_with_torchs_message(pair: Pair) -> None:
    for cls in (pair.theirs, pair.ours):
        with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
            cls(make_params(pair), lr=torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_fused_with_tensor_lr_on_cpu(pair: Pair) -> None:
    (a, _), (b, _) = side_by_side(pair, {"lr": torch.tensor(0.01), "fused": True})
    assert_same(a, b, pair.rtol)


# --- complex, sparse, dtypes, layouts ------------------------------------------------------------------------


@pytest.mark.parametrize(("pair", "i"), CONFIGS, ids=config_id)
def test_complex_parameters(pair: Pair, i: int) -> None:
    gen = torch.Generator().manual_seed(3)
    a = [torch.randn(3, 2, generator=gen, dtype=torch.complex128).requires_grad_()]
    b = cloned(a)
    if not pair.complex:
        for cls, ps in ((pair.theirs, a), (pair.ours, b)):
            ps[0].grad = torch.ones_like(ps[0])
            with pytest.raises(RuntimeError, match="complex"):
                cls(ps, **pair.configs[i]).step()
        return
    ours, theirs = pair.ours(a, **pair.configs[i]), pair.theirs(b, **pair.configs[i])
    for _ in range(STEPS):
        g = torch.randn(3, 2, generator=gen, dtype=torch.complex128)
        a[0].grad, b[0].grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    assert_same(a, b, pair.rtol)
    assert_same_state(ours, theirs, a, b, pair.rtol)


def _embedding_step(cls: type[torch.optim.Optimizer], kwargs: dict[str, Any]) -> tuple[Tensor, torch.optim.Optimizer]:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 3, sparse=True, dtype=F64)
    opt = cls(emb.parameters(), **kwargs)
    for t in range(STEPS):
        opt.zero_grad()
        emb(torch.tensor([t, 2, 7, t])).pow(2).sum().backward()
        opt.step()
    return emb.weight.detach(), opt


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_sparse_gradients(pair: Pair) -> None:
    kwargs = {"lr": 0.1, "momentum": 0.9} if pair.ours is optim.SGD else {}
    if pair.sparse:
        (w, _), (v, _) = _embedding_step(pair.ours, kwargs), _embedding_step(pair.theirs, kwargs)
        torch.testing.assert_close(w, v, rtol=1e-12, atol=1e-12)
        return
    with pytest.raises(RuntimeError) as theirs:
        _embedding_step(pair.theirs, kwargs)
    with pytest.raises(RuntimeError) as ours:
        _embedding_step(pair.ours, kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_several_dtypes_and_non_contiguous_tensors_in_one_optimizer(pair: Pair) -> None:
    def build() -> list[Tensor]:
        gen = torch.Generator().manual_seed(5)
        return [torch.randn(3, 4, generator=gen).requires_grad_(),  # float32
                torch.randn(5, 3, generator=gen, dtype=F64).t().detach().requires_grad_(),  # non-contiguous
                torch.randn(4, 2, generator=gen, dtype=F64).requires_grad_()]

    a, b = build(), build()
    ours, theirs = pair.ours(a, **pair.configs[-1]), pair.theirs(b, **pair.configs[-1])
    for t in range(STEPS):
        gen = torch.Generator().manual_seed(t)
        for p, q in zip(a, b):
            g = torch.randn(p.shape[::-1], generator=gen, dtype=p.dtype).t()  # non-contiguous gradients
            p.grad, q.grad = g.clone().t().contiguous().t(), g
        ours.step()
        theirs.step()
    assert not a[1].is_contiguous()
    assert_same(a, b, max(pair.rtol, 1e-6))


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_empty_param_group_and_add_param_group(pair: Pair) -> None:
    a = make_params(pair)
    b = cloned(a)
    ours, theirs = pair.ours([{"params": a[:1]}, {"params": []}]), pair.theirs([{"params": b[:1]}, {"params": []}])
    run(ours, a, range(2))
    run(theirs, b, range(2))
    ours.add_param_group({"params": a[1:], "lr": 0.05})
    theirs.add_param_group({"params": b[1:], "lr": 0.05})
    run(ours, a, range(2, 5))
    run(theirs, b, range(2, 5))
    assert_same(a, b, pair.rtol)
    assert_same_state(ours, theirs, a, b, pair.rtol)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_lr_scheduler(pair: Pair) -> None:
    a = make_params(pair)
    b = cloned(a)
    ours, theirs = pair.ours(a, **pair.configs[0]), pair.theirs(b, **pair.configs[0])
    for opt, ps in ((ours, a), (theirs, b)):
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=6, cycle_momentum=False)
        for t in range(6):
            set_grads(ps, t)
            opt.step()
            sched.step()
    assert_same(a, b, pair.rtol)
    assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]


# --- state: checkpoints, hooks, copies -----------------------------------------------------------------------


@pytest.mark.parametrize(("pair", "i"), CONFIGS, ids=config_id)
def test_state_dict_cross_loads_both_ways(pair: Pair, i: int) -> None:
    (a, ours), (b, theirs) = side_by_side(pair, pair.configs[i])
    # ours -> a fresh torch optimizer, torch's -> a fresh one of ours; both continue as the originals
    a2, b2 = cloned(a), cloned(b)
    theirs2, ours2 = pair.theirs(a2, **pair.configs[i]), pair.ours(b2, **pair.configs[i])
    theirs2.load_state_dict(copy.deepcopy(ours.state_dict()))
    ours2.load_state_dict(copy.deepcopy(theirs.state_dict()))
    for opt, ps in ((ours, a), (theirs, b), (theirs2, a2), (ours2, b2)):
        run(opt, ps, range(STEPS, 2 * STEPS))
    assert_same(a2, a, pair.rtol, "torch resumed from ours")
    assert_same(b2, b, pair.rtol, "ours resumed from torch's")
    assert_same_state(ours2, theirs, b2, b, pair.rtol)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_old_checkpoint_with_numeric_step_loads_and_steps(pair: Pair) -> None:
    (a, ours), (b, theirs) = side_by_side(pair, pair.configs[0])
    old = copy.deepcopy(theirs.state_dict())
    for s in old["state"].values():
        for key in ("step", "mu_product"):
            if key in s:
                s[key] = s[key].item()  # as torch < 1.12 saved them
    a2, b2 = cloned(b), cloned(b)
    ours2, theirs2 = pair.ours(a2, **pair.configs[0]), pair.theirs(b2, **pair.configs[0])
    ours2.load_state_dict(copy.deepcopy(old))
    theirs2.load_state_dict(old)
    run(ours2, a2, range(STEPS, STEPS + 2))
    run(theirs2, b2, range(STEPS, STEPS + 2))
    assert_same(a2, b2, pair.rtol)
    assert_same_state(ours2, theirs2, a2, b2, pair.rtol)


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_hooks_copies_pickle_and_zero_grad(pair: Pair) -> None:
    a = make_params(pair)
    opt = pair.ours(a, **pair.configs[-1])
    calls: list[str] = []
    handles = [opt.register_step_pre_hook(lambda *_: calls.append("pre")),
               opt.register_step_post_hook(lambda *_: calls.append("post")),
               opt.register_load_state_dict_pre_hook(lambda *_: calls.append("load-pre")),
               opt.register_load_state_dict_post_hook(lambda *_: calls.append("load-post")),
               opt.register_state_dict_pre_hook(lambda *_: calls.append("sd-pre")),
               opt.register_state_dict_post_hook(lambda *_: calls.append("sd-post"))]
    run(opt, a, range(2))
    opt.load_state_dict(opt.state_dict())
    assert calls == ["pre", "post", "pre", "post", "sd-pre", "sd-post", "load-pre", "load-post"]
    for h in handles:
        h.remove()
    # deepcopy and pickle carry parameters and state together; the copies continue as the original
    copies = [copy.deepcopy((opt, a)), pickle.loads(pickle.dumps((opt, a)))]
    run(opt, a, range(2, 4))
    for c_opt, c_a in copies:
        assert type(c_opt) is pair.ours
        run(c_opt, c_a, range(2, 4))
        assert_same(c_a, a, 0.0)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is None or (p.grad == 0).all() for p in a) and a[0].grad is not None
    opt.zero_grad()
    assert all(p.grad is None for p in a)


@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_fused_honours_grad_scale_and_found_inf(pair: Pair) -> None:
    """What GradScaler hands a fused optimizer: the kernel unscales the gradients, and skips where found_inf."""
    results = []
    for cls in (pair.ours, pair.theirs):
        ps = make_params(pair, torch.float32)
        opt = cls(ps, **pair.configs[-1], fused=True)
        if cls is pair.theirs and not getattr(opt, "_step_supports_amp_scaling", False):
            pytest.skip(f"this torch's fused {pair.name} ({torch.__version__}) does not take GradScaler's arguments")
        assert opt._step_supports_amp_scaling
        for t in range(3):
            set_grads(ps, t)
            for p in ps[:-1]:
                p.grad.mul_(1024.0)
            opt.grad_scale = torch.tensor(1024.0)
            opt.found_inf = torch.tensor(1.0 if t == 1 else 0.0)  # the second step is skipped
            opt.step()
        del opt.grad_scale, opt.found_inf
        results.append((ps, opt))
    (a, ours), (b, theirs) = results
    assert_same(a, b, 1e-6)
    assert_same_state(ours, theirs, a, b, 1e-6)


@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_grad_scaler_with_fused(pair: Pair) -> None:
    """A real GradScaler on CPU: an inf gradient skips the step of ours as of torch's."""
    results = []
    for cls in (pair.ours, pair.theirs):
        ps = make_params(pair, torch.float32)
        opt = cls(ps, **pair.configs[-1], fused=True)
        scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
        for t in range(3):
            opt.zero_grad()
            loss = sum((p * torch.randn(p.shape, generator=torch.Generator().manual_seed(t))).sum() for p in ps[:-1])
            scaler.scale(loss * (float("inf") if t == 1 else 1.0)).backward()
            scaler.step(opt)
            scaler.update()
        results.append((ps, opt))
    (a, ours), (b, theirs) = results
    assert_same(a, b, 1e-6)
    assert_same_state(ours, theirs, a, b, 1e-6)


# --- differentiating through the step ------------------------------------------------------------------------


def _unrolled(cls: type[torch.optim.Optimizer], kwargs: dict[str, Any], p0: Tensor, g0: Tensor) -> Tensor:
    """The parameter after two steps of ``cls`` from ``p0`` with gradients ``g0`` and ``2 g0``, in autograd."""
    p = p0.clone()
    opt = cls([p], differentiable=True, **kwargs)
    for k in (1.0, 2.0):
        p.grad = g0 * k
        opt.step()
    return p


@pytest.mark.parametrize(("pair", "i"), CONFIGS, ids=config_id)
def test_differentiable_step(pair: Pair, i: int) -> None:
    if "differentiable" not in pair.torch_keywords():
        pytest.skip(f"torch.optim.{pair.name} has no differentiable")
    gen = torch.Generator().manual_seed(7)
    p0 = torch.randn(3, generator=gen, dtype=F64, requires_grad=True)
    g0 = torch.randn(3, generator=gen, dtype=F64, requires_grad=True)
    kwargs = pair.configs[i]
    torch_error = ""
    try:
        torch_passes = torch.autograd.gradcheck(lambda p, g: _unrolled(pair.theirs, kwargs, p, g), (p0, g0),
                                                raise_exception=False)
    except RuntimeError as e:  # torch's in-place updates of its own saved tensors
        torch_passes = False
        torch_error = str(e)
    if not torch_passes:
        pytest.skip(f"torch's own gradcheck does not pass here{': ' + torch_error[:60] if torch_error else ''}")
    assert torch.autograd.gradcheck(lambda p, g: _unrolled(pair.ours, kwargs, p, g), (p0, g0))
    ours = torch.autograd.grad(_unrolled(pair.ours, kwargs, p0, g0).sum(), (p0, g0))
    theirs = torch.autograd.grad(_unrolled(pair.theirs, kwargs, p0, g0).sum(), (p0, g0))
    assert_same(list(ours), list(theirs), 1e-9, "d(step)/d(p, g)")


@pytest.mark.parametrize("pair", PAIRS[:-1], ids=str)
def test_differentiable_with_respect_to_a_tensor_lr(pair: Pair) -> None:
    """For meta-learning the learning rate: d(parameter after two steps)/d(lr), ours and torch's."""
    grads = []
    for cls in (pair.ours, pair.theirs):
        gen = torch.Generator().manual_seed(8)
        p0, g0 = torch.randn(3, generator=gen, dtype=F64), torch.randn(3, generator=gen, dtype=F64)
        lr = torch.tensor(0.01, dtype=F64, requires_grad=True)
        try:
            p = _unrolled(cls, {"lr": lr}, p0.requires_grad_(), g0)
            grads.append(torch.autograd.grad(p.sum(), lr)[0])
        except (RuntimeError, TypeError) as e:
            assert cls is pair.theirs, f"ours failed: {e}"
            pytest.skip(f"torch's own fails: {str(e)[:60]}")
    # torch's differentiable Adam takes its bias corrections from the float32 step tensor (1 − 0.999 to ≈ 1e-5
    # relative); ours from the exact step count.
    torch.testing.assert_close(grads[0], grads[1], rtol=3e-5, atol=1e-12)


def test_compiled_step() -> None:
    """``torch.compile`` of ``step`` (the eager backend: dynamo's tracing, not code generation, which is slow
    on this machine's two cores) gives the uncompiled numbers."""
    pair = PAIRS[4]  # Adam
    a = make_params(pair)
    b = cloned(a)
    ours, theirs = pair.ours(a, lr=0.01), pair.theirs(b, lr=0.01)
    step = torch.compile(ours.step, backend="eager")
    for t in range(3):
        set_grads(a, t)
        set_grads(b, t)
        step()
        theirs.step()
    assert_same(a, b, 1e-10)


# --- CUDA: the fused kernels ---------------------------------------------------------------------------------

KERNELS = {"SGD": "_fused_sgd_", "Adam": "_fused_adam_", "AdamW": "_fused_adamw_", "Adagrad": "_fused_adagrad_"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch's fused CUDA kernels)")
@pytest.mark.parametrize("pair", FUSED, ids=str)
def test_fused_cuda_reaches_torchs_kernel(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    name = KERNELS[pair.name]
    kernel = getattr(torch, name)
    calls: list[torch.device] = []

    def spy(params: list[Tensor], *args: Any, **kwargs: Any) -> Any:
        calls.append(params[0].device)
        return kernel(params, *args, **kwargs)

    a = [p.detach().cuda().requires_grad_() for p in make_params(pair, torch.float32)]
    b = [p.detach().clone().requires_grad_() for p in a]
    kwargs = {**pair.configs[1], "fused": True}  # configs[1]: L2 weight decay, so Adam's kernel is _fused_adam_
    try:
        probe = [p.detach().clone().requires_grad_() for p in a]
        run(pair.theirs(probe, **kwargs), probe, range(1))
    except RuntimeError as e:
        pytest.skip(f"torch.optim.{pair.name} has no fused kernel on this device: {e}")
    monkeypatch.setattr(torch, name, spy)
    ours, theirs = pair.ours(a, **kwargs), pair.theirs(b, **kwargs)
    run(ours, a, range(STEPS))
    n = len(calls)
    run(theirs, b, range(STEPS))
    assert n == STEPS and all(d.type == "cuda" for d in calls), f"ours called {name} {n} times"
    assert_same(a, b, 1e-6)
    assert_same_state(ours, theirs, a, b, 1e-6)
    for p in a[:-1]:
        if "step" in ours.state[p]:
            assert ours.state[p]["step"].device == p.device


VARIANTS = {"default": {}, "foreach": {"foreach": True}, "capturable": {"capturable": True}}


def on_cuda(params: list[Tensor]) -> list[Tensor]:
    return [p.detach().cuda().requires_grad_() for p in params]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("pair", "i"), CONFIGS, ids=lambda x: str(x))
def test_on_cuda_ours_equals_torch_on_cuda_and_ours_on_the_cpu(pair: Pair, i: int, variant: str) -> None:
    """On a GPU, in float64: each keyword set, as it is, with ``foreach`` and with ``capturable`` (the state's step
    on the device, no host synchronization), gives torch's default path's numbers there and our own step's on the
    CPU, and torch's state (keys, dtypes, devices) for the same flags.

    torch's capturable Adam family computes its bias corrections from the float32 step counter on the device, so
    its numbers are ≈ 1e-7 from its own default path; ours keep the default path's (the fused kernel, or the
    rule with the counter in float64): against torch's capturable path the tolerance is float32's."""
    extra = VARIANTS[variant]
    if any(k not in pair.torch_keywords() for k in extra):
        pytest.skip(f"torch.optim.{pair.name} has no {', '.join(extra)}")
    kwargs = {**pair.configs[i], **extra}
    cpu = make_params(pair)
    a, b, reference = on_cuda(cpu), on_cuda(cpu), on_cuda(cpu)
    try:
        probe = cloned(a)
        run(pair.theirs(probe, **kwargs), probe, range(1))
    except (RuntimeError, ValueError, TypeError, AssertionError) as e:
        pytest.skip(f"torch.optim.{pair.name} refuses {kwargs} on CUDA: {e}")
    ours, theirs = pair.ours(a, **kwargs), pair.theirs(b, **kwargs)
    run(ours, a, range(STEPS))
    run(theirs, b, range(STEPS))
    run(pair.theirs(reference, **pair.configs[i]), reference, range(STEPS))
    run(pair.ours(cpu, **pair.configs[i]), cpu, range(STEPS))
    assert all(p.device.type == "cuda" for p in a)
    assert_same(a, reference, pair.rtol, "parameters, against torch's default path")
    assert_same([p.cpu() for p in a], cpu, pair.rtol, "parameters, against ours on the CPU")
    tol = max(pair.rtol, 1e-6) if variant == "capturable" else pair.rtol
    assert_same(a, b, tol)
    assert_same_state(ours, theirs, a, b, tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
@pytest.mark.parametrize("pair", [p for p in PAIRS if p.name in ("Adam", "AdamW")], ids=str)
def test_on_cuda_adam_by_default_runs_torchs_fused_kernel_with_its_counters_on_the_host(
        pair: Pair, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's default path on a GPU is its multi-tensor one; ours is its fused kernel (one launch per tensor
    list, not ~10 per tensor), with the step counters where torch's default keeps them: on the CPU."""
    name = KERNELS[pair.name]
    kernel, calls = getattr(torch, name), []

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch, name, spy)
    a = on_cuda(make_params(pair, dtype))
    b = cloned(a)
    ours, theirs = pair.ours(a, **pair.configs[0]), pair.theirs(b, **pair.configs[0])
    run(ours, a, range(STEPS))
    assert len(calls) == STEPS
    run(theirs, b, range(STEPS))
    tol = pair.rtol if dtype == F64 else 1e-6
    assert_same(a, b, tol)
    assert_same_state(ours, theirs, a, b, tol)
    assert all(ours.state[p]["step"].device.type == "cpu" for p in a[:-1])


def set_static_grads(params: list[Tensor], step: int) -> None:
    """:func:`set_grads`'s values, copied into the gradients already there (a CUDA graph reads them in place)."""
    gen = torch.Generator().manual_seed(100 + step)
    for p in params[:-1]:
        p.grad.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("pair", [p for p in PAIRS if "capturable" in p.torch_keywords()], ids=str)
def test_on_cuda_a_capturable_step_is_captured_in_a_cuda_graph_and_replayed(pair: Pair) -> None:
    """What ``capturable=True`` is for: ``step()`` captured once in a CUDA graph (no host synchronization, nothing
    read back) and replayed gives the steps run one by one."""
    kwargs = {**pair.configs[-1], "capturable": True}
    a = on_cuda(make_params(pair))
    b = cloned(a)
    for p in a[:-1]:
        p.grad = torch.zeros_like(p)
    opt = pair.ours(a, **kwargs)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # the first step creates the state: outside the capture, as torch's docs say
        set_static_grads(a, 0)
        opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    for t in range(1, STEPS):
        set_static_grads(a, t)
        graph.replay()
    torch.cuda.synchronize()
    run(pair.ours(b, **kwargs), b, range(STEPS))
    assert_same(a, b, pair.rtol)


# --- beyond torch.optim: the general behaviour -----------------------------------------------------------------

BEYOND = [optim.Lion, optim.SGDScheduleFree, optim.AdamWScheduleFree, optim.Muon]


def _train(opt: torch.optim.Optimizer, ps: list[Tensor], steps: range) -> None:
    if callable(getattr(opt, "train", None)):
        opt.train()
    run(opt, ps, steps)


@pytest.mark.parametrize("cls", BEYOND, ids=lambda c: c.__name__)
def test_beyond_torch_general_behaviour(cls: type[torch.optim.Optimizer]) -> None:
    pair = Pair(cls, cls, ({},), matrices=cls is optim.Muon)
    a = make_params(pair)
    opt = cls(a, lr=torch.tensor([0.01]))  # a one-element tensor lr is a scalar
    b = cloned(a)
    ref = cls(b, lr=0.01)
    _train(opt, a, range(3))
    _train(ref, b, range(3))
    assert_same(a, b, 1e-6)
    assert [id(p) for p in opt.state] == [id(p) for p in a[:-1]], "state only for parameters with a gradient"
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        cls(make_params(pair), lr=torch.tensor([0.1, 0.2]))
    with pytest.raises(TypeError):
        cls(make_params(pair), lr_rate=0.1)
    with pytest.raises(ValueError):
        cls(make_params(pair), lr=-1.0)
    # checkpoint round trip, hooks, pickle
    calls: list[str] = []
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    c = cloned(a)
    other = cls(c, lr=0.01)
    other.load_state_dict(copy.deepcopy(opt.state_dict()))
    p_opt, p_a = pickle.loads(pickle.dumps((opt, a)))
    for o, ps in ((opt, a), (other, c), (p_opt, p_a)):
        _train(o, ps, range(3, 5))
    assert_same(c, a, 1e-6)
    assert_same(p_a, a, 0.0)
    assert calls == ["post", "post"]
    # float32 parameters keep float32 state
    f = make_params(pair, torch.float32)
    o32 = cls(f, lr=0.01)
    _train(o32, f, range(2))
    assert all(v.dtype == torch.float32 for s in o32.state.values() for k, v in s.items()
               if torch.is_tensor(v) and v.ndim and k != "step")
