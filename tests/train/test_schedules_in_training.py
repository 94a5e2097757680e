"""Schedules in both trainers: the lr of every update, the thinned step log, per-configuration schedules in one
vectorized pass, and an optimizer that is not a descentlab rule (the loop)."""

from __future__ import annotations

import pytest
import torch

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.registry import Entry
from descentlab.schedules.spec import parse_schedule
from descentlab.train import RunConfig, train
from descentlab.train.core import StepLog, total_updates
from descentlab.train.vectorized import train_vectorized, unsupported_reason

TIMING = {"seconds", "eval_seconds", "elapsed", "steps_per_s", "peak_memory_bytes", "shared_by"}


def test_total_updates_per_batch_size(task) -> None:
    build = lambda b: RunConfig.build(task, "sgd", epochs=3, batch_size=b)  # noqa: E731
    assert [total_updates(build(b), 100) for b in ("full", 1, 16, 100, 500)] == [3, 300, 21, 3, 3]


@pytest.mark.parametrize("total", [1, 7, 999, 1000, 1001, 2345, 100_000])
def test_the_step_log_keeps_at_most_the_limit_evenly_first_and_last(total: int) -> None:
    log = StepLog(total, 1000)
    kept = [s for s in range(total) if log.keeps(s)]
    assert len(kept) <= 1000 and kept[0] == 0 and kept[-1] == total - 1
    if total <= 1000:
        assert kept == list(range(total))
    else:  # evenly spaced, then the last update
        gaps = {b - a for a, b in zip(kept[:-1], kept[1:-1])}
        assert gaps == {log.stride} and len(kept) >= 500
    assert all(StepLog(total).keeps(s) for s in range(0, total, max(1, total // 50)))  # no limit: every one


def _scheduled(task, optimizer: str, lr: float, text: str, n: int, **kwargs) -> RunConfig:
    config = RunConfig.build(task, optimizer, {"lr": lr}, **kwargs)
    return RunConfig.build(task, optimizer, {"lr": lr}, schedule=parse_schedule(text).resolve(
        lr, total_updates(config, n)), **kwargs)


@pytest.mark.parametrize("update", ["auto", "tensor"])
def test_vectorized_equals_the_loop_with_a_schedule_per_configuration(task, splits, update: str) -> None:
    n = len(splits.y_train)
    configs = [_scheduled(task, "adam", 1e-2, "cosine(warmup_steps=0.2)", n, epochs=3),
               _scheduled(task, "adam", 1e-2, "constant", n, epochs=3),
               _scheduled(task, "adam", 3e-2, "cosine(warmup_steps=0.2)", n, epochs=3),
               _scheduled(task, "sgd", 0.2, "step(step_size=0.3,gamma=0.5)", n, epochs=3, seed=1),
               RunConfig.build(task, "adam", {"lr": 1e-2}, epochs=3)]  # no schedule beside scheduled ones
    vectorized = train_vectorized(configs, task=task, splits=splits, update=update, log_steps=True, max_logged=8)
    for config, v in zip(configs, vectorized):
        loop = train(config, task=task, splits=splits, log_steps=True, max_logged=8)
        assert [e["lr"] for e in v.epochs] == [e["lr"] for e in loop.epochs]
        for ve, le in zip(v.epochs, loop.epochs):
            for key in set(le) - TIMING:
                assert ve[key] == pytest.approx(le[key], rel=1e-4, abs=1e-6), key
        assert [s["step"] for s in v.steps] == [s["step"] for s in loop.steps]
        assert [s["lr"] for s in v.steps] == pytest.approx([s["lr"] for s in loop.steps], rel=1e-12)
        assert [s["loss"] for s in v.steps] == pytest.approx([s["loss"] for s in loop.steps], rel=1e-4)
        for p, q in zip(v.model.parameters(), loop.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    total = total_updates(configs[0], n)  # 3 epochs of ceil(100 / 16) = 21 updates, 8 of them logged
    cosine = vectorized[0]
    assert len(cosine.steps) <= 8 and cosine.steps[-1]["step"] == total - 1
    assert [s["lr"] for s in cosine.steps] == pytest.approx([configs[0].schedule(s["step"]) for s in cosine.steps])
    assert cosine.epochs[-1]["lr"] == pytest.approx(configs[0].schedule(total - 1))
    assert vectorized[1].epochs[-1]["lr"] == 1e-2 and vectorized[4].steps[0]["lr"] == 1e-2


def test_an_optimizer_that_is_not_a_rule_follows_the_schedule_in_the_loop(task, splits, request) -> None:
    """torch.optim.SGD itself (the loop, one run at a time) under a schedule equals descentlab's SGD rule under the
    same schedule in the vectorized trainer."""
    optim.registry.register(Entry("torch-sgd", torch.optim.SGD), source="test")
    request.addfinalizer(lambda: optim.registry.REGISTRY.unregister("torch-sgd"))
    n = len(splits.y_train)
    foreign = _scheduled(task, "torch-sgd", 0.3, "cosine(warmup_steps=3)", n, epochs=2)
    assert unsupported_reason(foreign) is not None
    result = train(foreign, task=task, splits=splits, log_steps=True)
    assert [s["lr"] for s in result.steps] == pytest.approx([foreign.schedule(k) for k in range(14)])
    assert result.steps[0]["lr"] == 0.0 and result.steps[3]["lr"] == pytest.approx(0.3)
    rule = train_vectorized([_scheduled(task, "sgd", 0.3, "cosine(warmup_steps=3)", n, epochs=2)] * 2,
                            task=task, splits=splits)[0]
    for a, b in zip(result.epochs, rule.epochs):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_acc"] == b["val_acc"] and a["lr"] == pytest.approx(b["lr"])


def test_the_schedule_is_part_of_the_runs_identity(task) -> None:
    a = _scheduled(task, "adam", 1e-2, "cosine", 100)
    assert a == _scheduled(task, "adam", 1e-2, "cosine", 100)  # resolved the same way: the same run
    described = a.to_dict()["schedule"]
    assert described == {"type": "RunSchedule", "label": "cosine",
                         "schedule": {"type": "Cosine", "base": 0.01, "T_max": 21, "eta_min": 0.0}}
    others = [_scheduled(task, "adam", 1e-2, "constant", 100), _scheduled(task, "adam", 1e-2, "cosine", 200),
              _scheduled(task, "adam", 1e-2, "cosine(eta_min=1e-4)", 100), RunConfig.build(task, "adam", {"lr": 1e-2})]
    assert len({a.digest(), *(o.digest() for o in others)}) == 5


class _NoLr(torch.optim.Optimizer):
    """An optimizer whose parameter groups have no learning rate (a fixed step)."""

    def __init__(self, params, step_size: float = 0.1) -> None:
        super().__init__(params, {"step_size": step_size})

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data.add_(p.grad, alpha=-group["step_size"])


def test_a_schedule_for_an_optimizer_without_lr_is_one_line(task, splits, request) -> None:
    optim.registry.register(Entry("no-lr", _NoLr), source="test")
    request.addfinalizer(lambda: optim.registry.REGISTRY.unregister("no-lr"))
    config = RunConfig.build(task, "no-lr", schedule=parse_schedule("cosine(base=0.1)").resolve(None, 21))
    with pytest.raises(UserError, match="optimizer 'no-lr' has no 'lr' in its parameter groups"):
        train(config, task=task, splits=splits)
    with pytest.raises(UserError, match="no lr to start from; give base="):
        parse_schedule("cosine").resolve(RunConfig.build(task, "no-lr").hyperparameters.get("lr"), 21)


@pytest.mark.parametrize("update", ["auto", "tensor"])
def test_muon_schedules_its_adamw_half_in_both_trainers(task, splits, update: str) -> None:
    """Muon's AdamW half (the biases) follows the run's schedule by lr / the configured lr, in the loop and, the
    same numbers, in the vectorized trainer; a flat schedule gives the unscheduled run's bits."""
    n = len(splits.y_train)
    cosine = _scheduled(task, "muon", 0.02, "cosine(warmup_steps=0.2)", n, epochs=2)
    flat = _scheduled(task, "muon", 0.02, "constant", n, epochs=2)
    plain = RunConfig.build(task, "muon", {"lr": 0.02}, epochs=2)
    loop = {c: train(c, task=task, splits=splits) for c in (cosine, flat, plain)}
    for p, q in zip(loop[flat].model.parameters(), loop[plain].model.parameters()):
        assert torch.equal(p, q)
    # the biases moved differently under the cosine (its warmup starts at lr 0: the AdamW half too)
    biases = lambda r: [p.detach() for p in r.model.parameters() if p.ndim == 1]  # noqa: E731
    start = biases(train(RunConfig.build(task, "muon", {"lr": 0.0}, epochs=1), task=task, splits=splits,
                         max_steps=0))
    moved = lambda r: sum(float((b - s).abs().sum()) for b, s in zip(biases(r), start))  # noqa: E731
    assert moved(loop[cosine]) < 0.8 * moved(loop[plain])
    vectorized = train_vectorized([cosine, flat, plain], task=task, splits=splits, update=update)
    for config, v in zip((cosine, flat, plain), vectorized):
        for p, q in zip(v.model.parameters(), loop[config].model.parameters()):
            if update == "auto":
                assert torch.equal(p, q)
            else:
                torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_a_configuration_that_diverges_leaves_the_others_schedule_alone(task, splits) -> None:
    """Dropping a diverged configuration rebuilds the slots' hyperparameters mid-step: the survivors keep their
    scheduled lr (and Muon's adamw_lr) for that step, the loop's numbers bit for bit."""
    n = len(splits.y_train)
    survivors = [_scheduled(task, "adam", 1e-2, "cosine(warmup_steps=0.5)", n, epochs=2),
                 _scheduled(task, "muon", 0.02, "cosine(warmup_steps=0.5)", n, epochs=2)]
    doomed = RunConfig.build(task, "sgd", {"lr": 1e30}, epochs=2)
    results = train_vectorized([*survivors, doomed], task=task, splits=splits)
    assert results[2].diverged_step is not None and results[2].diverged_step < total_updates(doomed, n)
    for config, v in zip(survivors, results):
        loop = train(config, task=task, splits=splits)
        for p, q in zip(v.model.parameters(), loop.model.parameters()):
            assert torch.equal(p, q)
