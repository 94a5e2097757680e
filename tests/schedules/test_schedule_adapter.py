"""ScheduleAdapter: a torch LRScheduler that drives any hyperparameter of any param group."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch.optim import SGD, Adam, lr_scheduler

from descentlab.errors import UserError
from descentlab.schedules import (
    Constant,
    Cosine,
    Cyclic,
    ExponentialDecay,
    OneCycle,
    ReduceOnPlateau,
    ScheduleAdapter,
    Warmup,
)

STEPS = 60


def quadratic_model() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2, dtype=torch.float64)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad()
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    (model(x) ** 2).sum().backward()
    opt.step()


def test_is_a_torch_scheduler_applying_step_k_after_k_steps() -> None:
    model = quadratic_model()
    opt = SGD(model.parameters(), lr=1.0, momentum=0.5)
    cos, wd = Cosine(0.05, 40, 1e-3), ExponentialDecay(1e-2, 0.9)
    sched = ScheduleAdapter(opt, {"lr": cos, "weight_decay": wd, "momentum": Constant(0.8)})
    assert isinstance(sched, lr_scheduler.LRScheduler)
    for k in range(STEPS):
        group = opt.param_groups[0]
        assert (group["lr"], group["weight_decay"], group["momentum"]) == (cos(k), wd(k), 0.8)
        assert sched.get_last_lr() == [cos(k)]
        assert sched.last_epoch == k
        train_step(model, opt)
        sched.step()


def test_matches_torch_onecycle_on_sgd_momentum() -> None:
    oc = OneCycle(0.3, STEPS, pct_start=0.25)
    model_a, model_b = quadratic_model(), quadratic_model()
    opt_a, opt_b = SGD(model_a.parameters(), lr=0.1, momentum=0.9), SGD(model_b.parameters(), lr=0.1, momentum=0.9)
    ours = ScheduleAdapter(opt_a, {"lr": oc, "momentum": oc.momentum})
    theirs = lr_scheduler.OneCycleLR(opt_b, max_lr=0.3, total_steps=STEPS, pct_start=0.25)
    for _ in range(STEPS):
        for key in ("lr", "momentum"):
            assert opt_a.param_groups[0][key] == pytest.approx(opt_b.param_groups[0][key], rel=1e-12)
        train_step(model_a, opt_a)
        train_step(model_b, opt_b)
        ours.step()
        if theirs.last_epoch < STEPS - 1:
            theirs.step()
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_adam_betas0_is_scheduled_and_betas1_kept() -> None:
    model = quadratic_model()
    opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    cyc = Cyclic(1e-3, 1e-2, step_size_up=5)
    sched = ScheduleAdapter(opt, {"lr": cyc, "betas[0]": cyc.momentum})
    for k in range(STEPS):
        betas = opt.param_groups[0]["betas"]
        assert isinstance(betas, tuple)
        assert betas == (cyc.momentum(k), 0.99)
        assert sched.get_last_values() == [{"lr": cyc(k), "betas[0]": cyc.momentum(k)}]
        train_step(model, opt)
        sched.step()


def test_relative_keeps_the_ratio_of_two_groups() -> None:
    model = quadratic_model()
    groups = [
        {"params": [model.weight], "lr": 0.1, "weight_decay": 1e-2},
        {"params": [model.bias], "lr": 0.01, "weight_decay": 0.0},
    ]
    opt = SGD(groups, momentum=0.9)
    mult = Warmup(Cosine(1.0, STEPS), 10, 0.1)
    sched = ScheduleAdapter(opt, {"lr": mult, "weight_decay": mult}, relative=True)
    for k in range(STEPS):
        g0, g1 = opt.param_groups
        assert g0["lr"] == pytest.approx(0.1 * mult(k), rel=1e-15)
        assert g1["lr"] == pytest.approx(0.01 * mult(k), rel=1e-15)
        assert g0["weight_decay"] == pytest.approx(1e-2 * mult(k), rel=1e-15)
        assert g1["weight_decay"] == 0.0
        if mult(k) > 0:
            assert g0["lr"] / g1["lr"] == pytest.approx(10.0, rel=1e-12)
        train_step(model, opt)
        sched.step()


def _run(resume_at: int | None) -> tuple[list[float], list[torch.Tensor]]:
    """Train STEPS steps; with resume_at, checkpoint there and continue in fresh objects."""

    def build(model):
        opt = Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999), weight_decay=1e-3)
        plateau = ReduceOnPlateau(1.0, patience=2, factor=0.5)
        oc = OneCycle(1.0, STEPS)
        schedules = {"lr": lambda k: oc(k) * plateau(k), "betas[0]": oc.momentum, "weight_decay": plateau}
        return opt, plateau, ScheduleAdapter(opt, schedules, relative=True)

    model = quadratic_model()
    opt, plateau, sched = build(model)
    lrs = []
    for k in range(STEPS):
        if k == resume_at:
            buffer = io.BytesIO()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
            buffer.seek(0)
            ckpt = torch.load(buffer)  # weights_only: the adapter's state is plain data
            model = quadratic_model()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1.0)  # make sure the checkpoint, not the seed, restores the weights
            opt, plateau, sched = build(model)
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
        lrs.append(opt.param_groups[0]["lr"])
        train_step(model, opt)
        plateau.update(1.0)  # a flat metric: reduces every 3rd call
        sched.step()
    return lrs, [p.detach().clone() for p in model.parameters()]


def test_state_dict_round_trip_resumes_identically() -> None:
    lrs, params = _run(None)
    lrs_resumed, params_resumed = _run(23)
    assert lrs_resumed == lrs
    assert len(set(lrs)) > 10
    for a, b in zip(params, params_resumed, strict=True):
        assert torch.equal(a, b)


def test_no_torch_warnings_in_the_normal_order() -> None:
    model = quadratic_model()
    opt = SGD(model.parameters(), lr=0.1)
    sched = ScheduleAdapter(opt, {"lr": Cosine(0.1, 10)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            train_step(model, opt)
            sched.step()


@pytest.mark.parametrize(
    ("schedules", "needle"),
    [
        ({"nesterov_momentum": Constant(0.9)}, "nesterov_momentum"),
        ({"betas[0]": Constant(0.9)}, "betas"),  # SGD has no betas
        ({"momentum[0]": Constant(0.9)}, "momentum[0]"),
        ({"lr ": Constant(0.9)}, "'lr '"),
        ({"lr": 0.1}, "schedules['lr']"),
        ({}, "at least one"),
    ],
)
def test_bad_schedules_raise_user_error(schedules, needle: str) -> None:
    opt = SGD(quadratic_model().parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(UserError) as info:
        ScheduleAdapter(opt, schedules)
    assert needle in str(info.value)


def test_adam_betas_index_out_of_range() -> None:
    opt = Adam(quadratic_model().parameters())
    with pytest.raises(UserError, match=r"betas\[2\]"):
        ScheduleAdapter(opt, {"betas[2]": Constant(0.9)})
