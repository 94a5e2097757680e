"""The training protocol shared by the loop and the vectorized trainer (train/core.py), and the gradient engine's
self-check (train/engine.py)."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from descentlab.errors import UserError
from descentlab.rules import muon, schedule_free
from descentlab.train import Callback, RunConfig, train
from descentlab.train import engine as engine_module
from descentlab.train.core import DIVERGENCE_FACTOR, RECORD_KEYS, Divergence, RunTracker, lr_at
from descentlab.train.vectorized import train_vectorized, unsupported_reason


def test_divergence_rule_non_finite_or_far_beyond_the_starting_loss():
    rule = Divergence(start_loss=2.0)
    assert not rule.exploded(2.0 * DIVERGENCE_FACTOR)          # at the bound: still a run
    assert rule.exploded(2.0 * DIVERGENCE_FACTOR * 1.0001)     # beyond it: exploded although finite
    assert rule.exploded(math.nan) and rule.exploded(math.inf)
    assert not Divergence(start_loss=None).exploded(1e30)       # no starting loss: only non-finite counts
    assert not Divergence(start_loss=0.0).exploded(1e30)
    assert Divergence(start_loss=0.0).exploded(math.inf)


def test_tracker_notes_the_first_epoch_at_the_target():
    t = RunTracker(target=0.5)
    for epoch, acc in [(1, 0.3), (2, 0.6), (3, 0.9)]:
        t.add({"epoch": epoch, "val_acc": acc, "elapsed": epoch * 1.5, "steps": epoch * 10})
    assert t.reached == {"epoch": 2, "seconds": 3.0, "steps": 20} and t.status == "completed"


def test_lr_at_reads_the_schedule_else_the_constant(task):
    constant = RunConfig.build(task, "sgd", {"lr": 0.3})
    scheduled = RunConfig.build(task, "sgd", {"lr": 0.3}, schedule=lambda k: 0.1 / (k + 1))
    assert lr_at(constant, 7) == 0.3 and lr_at(scheduled, 0) == 0.1 and lr_at(scheduled, 1) == 0.05


def test_an_exploding_finite_loss_diverges_the_same_way_in_both_trainers(task, splits):
    # sgd at lr 1e4 on blobs: losses grow to ~1e5 and stay finite for the first epochs
    configs = [RunConfig.build(task, "sgd", {"lr": lr}, epochs=3) for lr in (0.1, 1e4)]
    single = [train(c, task=task, splits=splits) for c in configs]
    stacked = train_vectorized(configs, task=task, splits=splits)
    for one, many in zip(single, stacked):
        assert one.status == many.status and one.diverged_step == many.diverged_step
        assert len(one.epochs) == len(many.epochs)
    assert single[0].status == "completed" and single[1].status == "diverged"
    assert all(math.isfinite(e["train_loss"]) for e in single[1].epochs)  # it was finite: the rule caught it


def test_every_record_has_the_one_schema(task, splits):
    config = RunConfig.build(task, "adam", {"lr": 1e-2}, epochs=2)
    for result in (train(config, task=task, splits=splits), train_vectorized([config, config], task=task,
                                                                              splits=splits)[0]):
        assert [tuple(e) for e in result.epochs] == [RECORD_KEYS] * 2
        assert result.engine in ("explicit", "autograd")


class StopAt(Callback):
    per_step = True

    def __init__(self, at: int) -> None:
        self.at, self.seen = at, []

    def on_step(self, step, lr, loss):
        self.seen.append((step, lr, loss))
        return step == self.at


def test_a_per_step_callback_sees_every_update_and_can_end_the_run(task, splits):
    config = RunConfig.build(task, "sgd", {"lr": 0.05}, epochs=3, schedule=lambda k: 0.05 * 0.9 ** k)
    stop = StopAt(9)  # 100 examples in batches of 16: 7 updates an epoch, so update 9 is inside epoch 2
    result = train(config, task=task, splits=splits, callbacks=[stop], log_steps=True)
    assert [s for s, _, _ in stop.seen] == list(range(10))
    assert [lr for _, lr, _ in stop.seen] == pytest.approx([0.05 * 0.9 ** k for k in range(10)])
    assert result.status == "completed" and len(result.epochs) == 1  # the unfinished epoch is not reported
    assert [s["step"] for s in result.steps] == list(range(10))
    assert [s["loss"] for s in result.steps] == [loss for _, _, loss in stop.seen]


def test_max_steps_bounds_the_run_and_logged_losses_are_the_epochs_losses(task, splits):
    config = RunConfig.build(task, "adam", {"lr": 1e-2}, epochs=3)
    full = train(config, task=task, splits=splits, log_steps=True)
    assert len(full.steps) == 21 and full.steps[-1]["step"] == 20
    sizes = [16] * 6 + [4]
    first_epoch = sum(s["loss"] * b for s, b in zip(full.steps[:7], sizes)) / 100
    assert first_epoch == pytest.approx(full.epochs[0]["train_loss"], rel=1e-6)
    short = train(config, task=task, splits=splits, log_steps=True, max_steps=10)
    assert len(short.steps) == 10 and len(short.epochs) == 1 and short.epochs[0] == {
        **full.epochs[0], **{k: short.epochs[0][k] for k in ("seconds", "eval_seconds", "elapsed", "steps_per_s",
                                                              "peak_memory_bytes")}}


def test_the_explicit_engine_falls_back_to_autograd_when_its_check_fails(task, splits, monkeypatch, caplog):
    monkeypatch.setattr(engine_module, "_checked", {})
    real = engine_module.MLPGradients.single

    def wrong(self, params, x, y, into=None):
        loss, out, grads = real(self, params, x, y, into)
        return loss, out, [g * 1.01 for g in grads]  # what a changed kernel signature could silently do

    monkeypatch.setattr(engine_module.MLPGradients, "single", wrong)
    config = RunConfig.build(task, "sgd", {"lr": 0.1}, epochs=1)
    with caplog.at_level(logging.WARNING, logger="descentlab"):
        result = train(config, task=task, splits=splits)
    assert result.engine == "autograd"
    said = [r for r in caplog.records if "disagrees with autograd" in r.getMessage()]
    assert [(r.name, r.levelname) for r in said] == [("descentlab.train.engine", "WARNING")]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="descentlab"):  # said once per process, not per run
        assert train(config, task=task, splits=splits).engine == "autograd"
    assert not [r for r in caplog.records if "disagrees" in r.getMessage()]
    with pytest.raises(UserError, match="disagrees with autograd"):
        train(config, task=task, splits=splits, engine="explicit")
    autograd = train(config, task=task, splits=splits, engine="autograd")
    assert autograd.epochs[0]["train_loss"] == result.epochs[0]["train_loss"]


def test_the_explicit_engine_is_checked_and_used_when_it_agrees(task, splits, monkeypatch):
    monkeypatch.setattr(engine_module, "_checked", {})
    result = train(RunConfig.build(task, "sgd", {"lr": 0.1}, epochs=1), task=task, splits=splits)
    assert result.engine == "explicit" and list(engine_module._checked.values()) == [None]


def test_declared_capabilities_drive_the_vectorized_trainer(task, splits):
    assert muon.MUON_WITH_ADAMW.for_shape is not None and {"ns_steps", "eps"} <= muon.MUON_WITH_ADAMW.fixed
    assert schedule_free.SGD_SCHEDULE_FREE.group_state and schedule_free.SGD_SCHEDULE_FREE.averaged_iterate
    reason = unsupported_reason(RunConfig.build(task, "sgd-schedulefree", {}))
    assert reason is not None and "per-group state" in reason
    # Muon: 2-D weights by Muon, biases by AdamW, decided on the unstacked shape
    configs = [RunConfig.build(task, "muon", {"lr": lr}, epochs=2) for lr in (0.01, 0.02)]
    stacked = train_vectorized(configs, task=task, splits=splits)
    for c, many in zip(configs, stacked):
        one = train(c, task=task, splits=splits)
        for a, b in zip(one.model.parameters(), many.model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # differing Newton–Schulz steps (declared fixed) go to separate slots and still train
    mixed = [RunConfig.build(task, "muon", {"ns_steps": n}, epochs=1) for n in (3, 5)]
    assert all(r.status == "completed" for r in train_vectorized(mixed, task=task, splits=splits))
