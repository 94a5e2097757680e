"""The optimizers' step runs torch.optim's hooks and profiler range when they are wanted, and skips them when not."""

from __future__ import annotations

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from descentlab import optim


def _model_and_opt():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    return p, optim.Adam([p], lr=0.1)


def test_per_optimizer_and_global_hooks_are_called_in_order() -> None:
    p, opt = _model_and_opt()
    calls: list[str] = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    handles = [register_optimizer_step_pre_hook(lambda o, args, kwargs: calls.append("global-pre")),
               register_optimizer_step_post_hook(lambda o, args, kwargs: calls.append("global-post"))]
    try:
        opt.step()
    finally:
        for h in handles:
            h.remove()
    assert calls == ["global-pre", "pre", "post", "global-post"]
    assert float(opt.state[p]["step"]) == 1.0


def test_a_pre_hook_can_replace_the_arguments() -> None:
    p, opt = _model_and_opt()
    seen = []
    # as in torch, the arguments a pre-hook sees and returns include the optimizer itself
    opt.register_step_pre_hook(lambda o, args, kwargs: ((o,), {"closure": lambda: seen.append(1) or 3.0}))
    assert opt.step() == 3.0 and seen == [1]


def test_the_profiler_sees_the_step() -> None:
    _, opt = _model_and_opt()
    with torch.profiler.profile() as prof:
        opt.step()
    assert any(e.key == "Optimizer.step#Adam.step" for e in prof.key_averages())


def test_without_hooks_the_step_still_updates() -> None:
    p, opt = _model_and_opt()
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), 0.9))
    assert type(opt).step.hooked is True  # torch did not wrap it a second time
