"""Our optimizers work unchanged with torch's machinery: LR schedulers, GradScaler + autocast, torch.compile."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn

from descentlab import optim
from tests.optim.harness import assert_close_rel, loss_fn, small_mlp

Scheduler = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def batches(n: int, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    return [(torch.randn(32, 6, generator=gen, dtype=dtype), torch.randint(0, 3, (32,), generator=gen))
            for _ in range(n)]


def assert_models_close(a: nn.Module, b: nn.Module, rtol: float, what: str) -> None:
    for i, (p, q) in enumerate(zip(a.parameters(), b.parameters())):
        assert torch.isfinite(p).all(), f"{what}: parameter {i} is not finite"
        assert_close_rel(p.detach(), q.detach(), rtol, f"{what}: parameter {i}")


SCHEDULES: dict[str, tuple[type[torch.optim.Optimizer], type[torch.optim.Optimizer], dict, Scheduler]] = {
    "sgd-momentum-steplr": (optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9},
                            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5)),
    # OneCycleLR also cycles Adam's beta1 (it writes group["betas"]): our step must read it every time.
    "adam-onecycle": (optim.Adam, torch.optim.Adam, {"lr": 1e-2},
                      lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=40)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_scheduler_drives_ours_as_it_drives_torch(name: str) -> None:
    ours_cls, torch_cls, hyper, make_scheduler = SCHEDULES[name]
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    ours, ref = ours_cls(a.parameters(), **hyper), torch_cls(b.parameters(), **hyper)
    ours_schedule, ref_schedule = make_scheduler(ours), make_scheduler(ref)
    for x, y in batches(40, torch.float64):
        for model, opt, schedule in ((a, ours, ours_schedule), (b, ref, ref_schedule)):
            opt.zero_grad()
            loss_fn(model, x, y).backward()
            opt.step()
            schedule.step()
        assert ours_schedule.get_last_lr() == ref_schedule.get_last_lr()
        assert ours.param_groups[0].get("betas") == ref.param_groups[0].get("betas")
    assert ours.param_groups[0]["lr"] != hyper["lr"], "the schedule did not change the learning rate"
    assert_models_close(a, b, 1e-10, name)


def test_grad_scaler_and_bf16_autocast_on_cpu() -> None:
    """Same scaler, same autocast: ours equals torch's Adam, including the step skipped on an inf gradient."""
    a = small_mlp(torch.float32)
    b = copy.deepcopy(a)
    runs = []
    for model, opt in ((a, optim.Adam(a.parameters(), lr=1e-2)), (b, torch.optim.Adam(b.parameters(), lr=1e-2))):
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=5)
        scales = []
        for i, (x, y) in enumerate(batches(20, torch.float32)):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model, x, y)
            scaler.scale(loss).backward()
            if i == 7:  # an overflowed gradient: the scaler must skip this step and halve the scale
                next(model.parameters()).grad[0, 0] = float("inf")
                before = [p.detach().clone() for p in model.parameters()]
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
            if i == 7:
                assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before)), "inf step not skipped"
        runs.append(scales)
        assert int(opt.state[next(model.parameters())]["step"]) == 19
    assert runs[0] == runs[1] and runs[0][7] == runs[0][6] / 2
    assert_models_close(a, b, 1e-5, "GradScaler")


def test_compiled_step_equals_eager() -> None:
    """``torch.compile`` of the training step (forward, backward, our Adam's step) gives the eager result.

    Backend "eager": Dynamo captures the graphs (and the graph breaks around ``.item()``) but runs them with the
    eager kernels, which keeps the test fast (inductor would take tens of seconds to compile here). Traced, our
    step runs the readable rule (torch's fused kernels cannot be traced: ``tests/optim/test_torch_usage.py``),
    which the eager step does not: equal to rounding, not bitwise (``1 − β**t`` from a float64 tensor ``t``
    rather than a Python int). The ``step`` counts are equal.
    """
    a = small_mlp(torch.float64)
    b = copy.deepcopy(a)
    eager_opt, compiled_opt = optim.Adam(a.parameters(), lr=1e-2), optim.Adam(b.parameters(), lr=1e-2)

    def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad()
        loss_fn(model, x, y).backward()
        opt.step()

    torch._dynamo.reset()
    compiled = torch.compile(train_step, backend="eager")
    for x, y in batches(10, torch.float64):
        train_step(a, eager_opt, x, y)
        compiled(b, compiled_opt, x, y)
    assert_models_close(a, b, 1e-12, "compiled")
    for p, q in zip(a.parameters(), b.parameters()):
        for k, v in eager_opt.state[p].items():
            torch.testing.assert_close(compiled_opt.state[q][k], v, rtol=1e-12, atol=1e-15)
