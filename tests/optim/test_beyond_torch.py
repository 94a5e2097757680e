"""Lion, Schedule-Free SGD/AdamW and Muon equal their authors' code (and torch.optim.Muon/AdamW), f64 and f32."""

from __future__ import annotations

import copy
from typing import Any

import lion_pytorch
import pytest
import schedulefree
import torch

from descentlab import optim
from descentlab.rules import generated
from descentlab.rules.base import HyperparameterError
from descentlab.rules.muon import ADAMW_KEYS
from tests.optim.cases import Case
from tests.optim.harness import assert_close_rel, loss_fn, run_side_by_side, small_mlp, two_groups

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
# fused=True: the fused step generated from the rule by torch.compile (rules/generated.py), compiled once per rule
# and dtype in a session; the same tolerances as the readable rule.
PATHS = pytest.mark.parametrize("fused", [False, True], ids=["readable", "generated"])


def _generated_ran(opt: Any, fused: bool, calls: int) -> None:
    """The generated path stepped every chunk of the run (``fused=True``) without falling back."""
    if fused:
        step = generated.fused_step(opt.rule)
        assert step.compiled_calls > calls and not step.failed, "the generated fused step did not run"


def _calls(opt_cls: Any) -> int:
    return generated.fused_step(opt_cls.rule).compiled_calls


def _compare_states(a: torch.nn.Module, ours: Any, b: torch.nn.Module, ref: Any, rtol: float, what: str) -> None:
    for i, (pa, pb) in enumerate(zip(a.parameters(), b.parameters())):
        assert torch.isfinite(pa).all(), f"{what}: parameter {i} is not finite"
        assert_close_rel(pa.detach(), pb.detach(), rtol, f"{what} parameter {i}")
        sa, sb = ours.state[pa], ref.state[pb]
        assert set(sa) == set(sb), f"{what}: state keys differ: ours {sorted(sa)}, reference {sorted(sb)}"
        for key, va in sa.items():
            assert_close_rel(va.to(torch.float64), sb[key].to(torch.float64), rtol, f"{what} parameter {i} {key}")


# --- Lion ----------------------------------------------------------------------------------------------------

LION_CASES = [
    Case("lion-wd", optim.Lion, lion_pytorch.Lion, {"lr": 1e-3, "weight_decay": 0.1},
         {"lr": 3e-4, "betas": (0.95, 0.98)}, steps=120),
    Case("lion", optim.Lion, lion_pytorch.Lion, {"lr": 3e-3}, {"weight_decay": 0.5, "betas": (0.8, 0.9)}, steps=120),
]


@PATHS
@DTYPES
@pytest.mark.parametrize("case", LION_CASES, ids=str)
def test_lion_matches_lion_pytorch(case: Case, dtype: torch.dtype, fused: bool) -> None:
    if fused and case.id != "lion-wd":
        pytest.skip("the fused path is checked on one case per rule")
    calls = _calls(case.ours)
    (a, ours), (b, ref) = run_side_by_side(case, dtype, fused=fused)
    _compare_states(a, ours, b, ref, TOLERANCE[dtype], f"{case} {dtype}")
    _generated_ran(ours, fused, calls)


# --- Schedule-Free -------------------------------------------------------------------------------------------

SF_CASES = [
    Case("sgd-schedulefree", optim.SGDScheduleFree, schedulefree.SGDScheduleFree,
         {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.01, "warmup_steps": 20},
         {"lr": 0.2, "momentum": 0.8, "r": 1.0}),
    Case("adamw-schedulefree", optim.AdamWScheduleFree, schedulefree.AdamWScheduleFree,
         {"lr": 0.01, "weight_decay": 0.01, "warmup_steps": 20},
         {"betas": (0.8, 0.99), "eps": 1e-6, "weight_lr_power": 1.0, "warmup_steps": 5}),
]
GROUP_KEYS = ("k", "lr_max", "weight_sum", "scheduled_lr", "train_mode")


def _train(models_opts: list[tuple[torch.nn.Module, Any]], dtype: torch.dtype, steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(32, 6, generator=gen, dtype=dtype)
        y = torch.randint(0, 3, (32,), generator=gen)
        for model, opt in models_opts:
            opt.zero_grad()
            loss_fn(model, x, y).backward()
            opt.step()


def _compare_sf(a, ours, b, ref, rtol: float, what: str) -> None:
    _compare_states(a, ours, b, ref, rtol, what)
    for ga, gb in zip(ours.param_groups, ref.param_groups):
        for key in GROUP_KEYS:
            assert ga[key] == pytest.approx(gb[key], rel=1e-12), f"{what}: group {key} {ga[key]} != {gb[key]}"


@PATHS
@DTYPES
@pytest.mark.parametrize("case", SF_CASES, ids=str)
def test_schedule_free_matches_authors(case: Case, dtype: torch.dtype, fused: bool) -> None:
    rtol = TOLERANCE[dtype]
    a = small_mlp(dtype)
    b = copy.deepcopy(a)
    calls = _calls(case.ours)
    ours = case.ours(two_groups(a, case.group2), **case.hyper, fused=fused)
    ref = case.reference(two_groups(b, case.group2), **case.hyper)
    pairs = [(a, ours), (b, ref)]
    for _, opt in pairs:
        opt.train()
    _train(pairs, dtype, 60, seed=1)
    _compare_sf(a, ours, b, ref, rtol, f"{case} {dtype} train")
    for _, opt in pairs:
        opt.eval()
    _compare_sf(a, ours, b, ref, rtol, f"{case} {dtype} eval")
    with pytest.raises(RuntimeError, match="train"):
        ours.step()
    for _, opt in pairs:
        opt.train()
    _compare_sf(a, ours, b, ref, rtol, f"{case} {dtype} train again")
    _train(pairs, dtype, 60, seed=2)
    _compare_sf(a, ours, b, ref, rtol, f"{case} {dtype} after 120 steps")
    _generated_ran(ours, fused, calls)


def test_schedule_free_train_eval_roundtrip_and_state_dict() -> None:
    model = small_mlp(torch.float64)
    opt = optim.AdamWScheduleFree(model.parameters(), lr=0.01, warmup_steps=3)
    opt.train()
    _train([(model, opt)], torch.float64, 10, seed=3)
    y = [p.detach().clone() for p in model.parameters()]
    opt.eval()
    opt.eval()  # idempotent
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), y))
    saved = copy.deepcopy(opt.state_dict())
    opt.train()
    for p, q in zip(model.parameters(), y):
        assert_close_rel(p.detach(), q, 1e-12, "train() after eval()")
    assert saved["param_groups"][0]["k"] == 10 and saved["param_groups"][0]["train_mode"] is False
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["k"] == 10 and opt.param_groups[0]["train_mode"] is False


@pytest.mark.parametrize("case", SF_CASES, ids=str)
def test_schedule_free_continues_from_authors_state_dict(case: Case) -> None:
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    ref = case.reference(two_groups(b, case.group2), **case.hyper)
    ref.train()
    _train([(b, ref)], torch.float64, 10, seed=5)
    ours = case.ours(two_groups(a, case.group2), **case.hyper)
    a.load_state_dict(b.state_dict())
    ours.load_state_dict(copy.deepcopy(ref.state_dict()))  # torch's load shares tensors with a live optimizer
    _train([(a, ours), (b, ref)], torch.float64, 10, seed=6)
    _compare_sf(a, ours, b, ref, 1e-10, f"{case} after loading the authors' state_dict")


@pytest.mark.parametrize("case", SF_CASES, ids=str)
def test_schedule_free_groups_without_gradients(case: Case) -> None:
    # schedulefree's own test_foreach: a group whose parameter has no gradient and a group with no parameters
    # still count the step (k, lr_max, weight_sum advance), as the authors' optimizer; this raised IndexError.
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    frozen_a, frozen_b = (torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    ours = case.ours([{"params": list(a.parameters())}, {"params": [frozen_a]}, {"params": []}], **case.hyper)
    ref = case.reference([{"params": list(b.parameters())}, {"params": [frozen_b]}, {"params": []}], **case.hyper)
    for opt in (ours, ref):
        opt.train()
    _train([(a, ours), (b, ref)], torch.float64, 10, seed=7)
    for opt in (ours, ref):
        opt.eval()
    _compare_sf(a, ours, b, ref, 1e-12, f"{case} with gradient-less groups")
    assert frozen_a not in ours.state and ours.param_groups[2]["k"] == 10


# --- Muon ----------------------------------------------------------------------------------------------------


class MuonReference:
    """torch.optim.Muon on the 2-D parameters, torch.optim.AdamW (``adamw_*`` hyperparameters) on the others."""

    def __init__(self, groups: list[dict[str, Any]], **hyper: Any) -> None:
        adamw = {ours: hyper.pop(key) for key, ours in ADAMW_KEYS.items()}
        muon_groups, adamw_groups = [], []
        for group in groups:
            params = group["params"]
            muon_groups.append({"params": [p for p in params if p.ndim == 2],
                                **{k: v for k, v in group.items() if k != "params" and k not in ADAMW_KEYS}})
            adamw_groups.append({"params": [p for p in params if p.ndim != 2],
                                 **{ADAMW_KEYS[k]: v for k, v in group.items() if k in ADAMW_KEYS}})
        self.muon = torch.optim.Muon(muon_groups, **hyper)
        self.adamw = torch.optim.AdamW(adamw_groups, **adamw)

    @property
    def state(self) -> dict[Any, Any]:
        return {**self.muon.state, **self.adamw.state}

    def zero_grad(self) -> None:
        self.muon.zero_grad()
        self.adamw.zero_grad()

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()


ADAMW_HYPER = {"adamw_lr": 3e-3, "adamw_betas": (0.9, 0.95), "adamw_eps": 1e-10, "adamw_weight_decay": 0.01}
MUON_CASES = [
    Case("muon", optim.Muon, MuonReference, {"lr": 0.02, "weight_decay": 0.01, **ADAMW_HYPER},
         {"lr": 0.01, "momentum": 0.9, "adamw_lr": 1e-3, "adamw_betas": (0.8, 0.99)}),
    Case("muon-plain-momentum", optim.Muon, MuonReference,
         {"lr": 0.01, "nesterov": False, "adjust_lr_fn": "match_rms_adamw", "ns_steps": 4, **ADAMW_HYPER},
         {"adjust_lr_fn": "original", "weight_decay": 0.0, "adamw_weight_decay": 0.1, "adamw_eps": 1e-8}),
]


@PATHS
@DTYPES
@pytest.mark.parametrize("case", MUON_CASES, ids=str)
def test_muon_matches_torch_muon_and_adamw(case: Case, dtype: torch.dtype, fused: bool) -> None:
    if fused and case.id != "muon":
        pytest.skip("the fused path is checked on one case per rule")
    (a, ours), (b, ref) = run_side_by_side(case, dtype, fused=fused)
    _compare_states(a, ours, b, ref, TOLERANCE[dtype], f"{case} {dtype}")


def test_muon_use_muon_false_is_adamw() -> None:
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    ours = optim.Muon([{"params": a.parameters(), "use_muon": False}], **ADAMW_HYPER)
    ref = torch.optim.AdamW(b.parameters(), **{ours_key: ADAMW_HYPER[k] for k, ours_key in ADAMW_KEYS.items()})
    _train([(a, ours), (b, ref)], torch.float64, 30, seed=4)
    _compare_states(a, ours, b, ref, 1e-10, "use_muon=False")


@pytest.mark.parametrize("fused, channels_last", [(False, False), (True, False), (False, True)])
def test_muon_conv_filter_is_the_flattened_matrix(fused: bool, channels_last: bool) -> None:
    # As Keller Jordan's Muon (muon_update: update.view(len(update), -1)), a 4-D filter given to Muon is the
    # matrix [out, in*kh*kw]: the same steps as torch.optim.Muon on that matrix. Before, every 3x3 kernel was
    # orthogonalized on its own.
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(8, 4, 3, 3, generator=gen, dtype=torch.float64)
    conv = torch.nn.Parameter(w0.clone(memory_format=torch.channels_last if channels_last else torch.contiguous_format))
    matrix = torch.nn.Parameter(w0.reshape(8, -1).clone())
    hyper = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.9}
    ours = optim.Muon([{"params": [conv], "use_muon": True}], **hyper, fused=fused)
    ref = torch.optim.Muon([matrix], **hyper, adjust_lr_fn="original")
    for _ in range(10):
        g = torch.randn(8, 4, 3, 3, generator=gen, dtype=torch.float64)
        conv.grad, matrix.grad = g.clone(), g.reshape(8, -1).clone()
        ours.step()
        ref.step()
    assert_close_rel(conv.detach().reshape(8, -1), matrix.detach(), 1e-12, "4-D filter vs its matrix")
    buffer = ours.state[conv]["momentum_buffer"]
    assert buffer.shape == conv.shape
    assert_close_rel(buffer.reshape(8, -1), ref.state[matrix]["momentum_buffer"], 1e-12, "momentum buffer")


@pytest.mark.parametrize("group, key", [
    ({"use_muon": False, "lr": 3e-4, "betas": (0.9, 0.95), "weight_decay": 0.01}, "lr"),  # MuonWithAuxAdam's README
    ({"use_muon": False, "weight_decay": 0.01}, "weight_decay"),
    ({"betas": (0.9, 0.95)}, "betas"),
])
def test_muon_refuses_aux_adam_group_keys(group: dict[str, Any], key: str) -> None:
    # Keller Jordan's MuonWithAuxAdam reads a use_muon=False group's lr/betas/eps/weight_decay as its Adam's;
    # ours would have ignored them silently (the AdamW half reads adamw_*).
    model = small_mlp(torch.float32)
    with pytest.raises(HyperparameterError, match=rf"muon: invalid group key {key}=.*; allowed: adamw_{key} "):
        optim.Muon([{"params": [model[0].weight], "use_muon": True},
                    {"params": [model[0].bias], **group}])


def test_muon_accepts_its_own_groups_back() -> None:
    model = small_mlp(torch.float32)
    opt = optim.Muon([{"params": [model[0].weight]}, {"params": [model[0].bias], "use_muon": False,
                                                     "adamw_lr": 1e-3, "lr": 0.02}])
    rebuilt = optim.Muon(opt.param_groups)  # whole groups copied, lr included, as some wrappers do
    assert rebuilt.param_groups[1]["adamw_lr"] == 1e-3


# --- registry and validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [("lion", optim.Lion), ("sgd-schedulefree", optim.SGDScheduleFree),
                                       ("adamw-schedulefree", optim.AdamWScheduleFree), ("muon", optim.Muon)])
def test_registry(name: str, cls: type) -> None:
    assert isinstance(optim.create(name, small_mlp(torch.float32).parameters()), cls)


@pytest.mark.parametrize("cls, hyper, match", [
    (optim.Lion, {"lr": -1.0}, r"lion: invalid lr=-1.0; allowed"),
    (optim.Lion, {"betas": (0.9, 1.5)}, r"lion: invalid betas\[1\]=1.5"),
    (optim.Lion, {"betas": 0.9}, r"lion: invalid betas=0.9"),
    (optim.SGDScheduleFree, {"momentum": 1.0}, r"sgd-schedulefree: invalid momentum=1.0; allowed: .*\(0.0, 1.0\)"),
    (optim.SGDScheduleFree, {"warmup_steps": 2.5}, r"invalid warmup_steps=2.5; allowed: an integer"),
    (optim.AdamWScheduleFree, {"betas": (0.0, 0.9)}, r"adamw-schedulefree: invalid betas\[0\]=0.0"),
    (optim.AdamWScheduleFree, {"weight_lr_power": -1}, r"invalid weight_lr_power=-1"),
    (optim.Muon, {"adjust_lr_fn": "rms"}, r"muon: invalid adjust_lr_fn='rms'; allowed: None, 'original'"),
    (optim.Muon, {"ns_steps": 100}, r"muon: invalid ns_steps=100; allowed: an integer in \[0, 100\)"),
    (optim.Muon, {"ns_coefficients": (1.0, 2.0)}, r"muon: invalid ns_coefficients"),
    (optim.Muon, {"adamw_betas": (0.9, 1.0)}, r"muon: invalid adamw_betas\[1\]=1.0"),
    (optim.Muon, {"adamw_eps": 0.0}, r"muon: invalid adamw_eps=0.0"),
    (optim.Muon, {"use_muon": "yes"}, r"muon: invalid use_muon='yes'"),
    (optim.Muon, {"ns_dtype": torch.int32}, r"muon: invalid ns_dtype=torch.int32"),
])
def test_validation(cls: type, hyper: dict[str, Any], match: str) -> None:
    with pytest.raises(HyperparameterError, match=match):
        cls(small_mlp(torch.float32).parameters(), **hyper)


def test_group_validation() -> None:
    model = small_mlp(torch.float32)
    with pytest.raises(HyperparameterError, match="lion: invalid weight_decay=-0.1"):
        optim.Lion(two_groups(model, {"weight_decay": -0.1}))


# --- Muon under a schedule: both halves --------------------------------------------------------------------

MUON_LR, MUON_ADAMW_LR = 0.02, 3e-3


def _schedulers(kind: str, muon_opt: Any, adamw_opt: Any | None, steps: int) -> list[Any]:
    """The same schedule on ours (``adamw_opt`` None) or on the reference's two optimizers, whose AdamW is driven
    with its own peak ``adamw_lr``."""
    from torch.optim.lr_scheduler import OneCycleLR, StepLR

    from descentlab.schedules import ScheduleAdapter
    from descentlab.schedules.cosine import Cosine

    def one(opt: Any, peak: float) -> Any:
        if kind == "step":
            return StepLR(opt, step_size=4, gamma=0.5)
        if kind == "onecycle":
            return OneCycleLR(opt, max_lr=peak, total_steps=steps, cycle_momentum=False)
        return ScheduleAdapter(opt, {"lr": Cosine(1.0, steps)}, relative=True)

    return [one(muon_opt, MUON_LR)] + ([] if adamw_opt is None else [one(adamw_opt, MUON_ADAMW_LR)])


@pytest.mark.parametrize("fused", [False, None], ids=["readable", "torch-kernel"])
@pytest.mark.parametrize("kind", ["step", "onecycle", "cosine"])
def test_muon_schedules_its_adamw_half_by_the_same_factor(kind: str, fused: bool | None) -> None:
    # Keller Jordan's MuonWithAuxAdam under his loop's schedule scales both halves; ours kept adamw_lr constant.
    # Reference: torch's Muon and AdamW, each under the schedule, AdamW's with adamw_lr as its base rate.
    steps = 16
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    hyper = {"lr": MUON_LR, "weight_decay": 0.01, **ADAMW_HYPER, "adamw_lr": MUON_ADAMW_LR}
    ours = optim.Muon(a.parameters(), **hyper, fused=fused)
    ref = MuonReference([{"params": list(b.parameters())}], **{**hyper, "adjust_lr_fn": "original"})
    ref_scheds = _schedulers(kind, ref.muon, ref.adamw, steps)
    our_scheds = _schedulers(kind, ours, None, steps)
    gen = torch.Generator().manual_seed(3)
    for _ in range(steps):
        x, y = torch.randn(32, 6, generator=gen, dtype=torch.float64), torch.randint(0, 3, (32,), generator=gen)
        for model, opt, scheds in ((a, ours, our_scheds), (b, ref, ref_scheds)):
            opt.zero_grad()
            loss_fn(model, x, y).backward()
            opt.step()
            for s in scheds:
                s.step()
    assert ours.param_groups[0]["lr"] != MUON_LR  # the schedule moved
    _compare_states(a, ours, b, ref, 1e-10, f"muon under {kind}")


def _bias_step(opt: Any, bias: torch.nn.Parameter, group: int, lr: float) -> torch.Tensor:
    """The AdamW half's first step on ``bias`` (gradient 1) at ``lr``: adamw_lr × lr / built_lr in size."""
    before = bias.detach().clone()
    opt.param_groups[group]["lr"] = lr
    bias.grad = torch.ones_like(bias)
    opt.step()
    return bias.detach() - before


def test_muon_adamw_half_follows_lr_in_groups_added_later_and_through_state_dict() -> None:
    w = torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.float64))
    b1, b2 = (torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)) for _ in range(2))
    opt = optim.Muon([{"params": [w, b1]}], lr=0.02, adamw_lr=1e-3, adamw_weight_decay=0.0)
    opt.add_param_group({"params": [b2], "lr": 0.5, "adamw_lr": 4e-3})  # built at 0.5: adamw_lr is at lr=0.5
    assert [g["built_lr"] for g in opt.param_groups] == [0.02, 0.5]
    # Adam's first step is lr × sign(g) (to eps): a tenth of the built lr is a tenth of adamw_lr
    torch.testing.assert_close(_bias_step(opt, b2, 1, 0.05), torch.full((3,), -4e-4, dtype=torch.float64))
    saved = copy.deepcopy(opt.state_dict())
    fresh = optim.Muon([{"params": [w, b1]}], lr=0.3, adamw_lr=1e-3)
    fresh.add_param_group({"params": [b2], "lr": 7.0, "adamw_lr": 4e-3})
    fresh.load_state_dict(saved)  # built_lr comes back with the state: the ratio, not this constructor's lr
    assert [g["built_lr"] for g in fresh.param_groups] == [0.02, 0.5]
    old = {k: v for k, v in saved["param_groups"][0].items() if k != "built_lr"}  # saved before built_lr existed
    older = optim.Muon([{"params": [w, b1]}], lr=0.3)
    older.load_state_dict({"state": {}, "param_groups": [{**old, "initial_lr": 0.04, "params": [0, 1]}]})
    assert older.param_groups[0]["built_lr"] == 0.04  # a torch scheduler's start, where one was saved


def test_muon_without_a_schedule_keeps_adamw_lr_and_refuses_a_bad_built_lr() -> None:
    w = torch.nn.Parameter(torch.zeros(3, 2))
    bias = torch.nn.Parameter(torch.zeros(3))
    opt = optim.Muon([w, bias], lr=torch.tensor(0.02), adamw_lr=1e-3)
    assert opt.param_groups[0]["built_lr"] == float(torch.tensor(0.02))
    step = _bias_step(opt, bias, 0, opt.param_groups[0]["lr"])
    torch.testing.assert_close(step, torch.full((3,), -1e-3))
    frozen = optim.Muon([torch.nn.Parameter(torch.zeros(3))], lr=0.0, adamw_lr=1e-3)  # built not to move
    assert frozen.param_groups[0]["built_lr"] == 0.0
    with pytest.raises(HyperparameterError, match=r"muon: invalid built_lr=-1.0; allowed: a number ≥ 0.0"):
        optim.Muon([{"params": [bias], "built_lr": -1.0}])
