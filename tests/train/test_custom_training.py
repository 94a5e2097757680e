"""A regression task (mse, the loss as metric) trains by the same protocol in the loop and the vectorized trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from descentlab.tasks import custom_task
from descentlab.train import RunConfig, train
from descentlab.train.core import RunTracker
from descentlab.train.vectorized import train_vectorized


def regression(target: float | None = None, epochs: int = 4, batch_size: int | str = 16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = np.stack([x @ np.array([1.0, -2.0, 0.5]), x[:, 0] * x[:, 1]], 1).astype(np.float32)  # 2 outputs
    return custom_task("reg", model=lambda: nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)),
                       x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:], target=target,
                       epochs=epochs, batch_size=batch_size)


def test_full_batch_sgd_matches_a_plain_torch_loop() -> None:
    task = regression(batch_size="full", epochs=3)
    result = train(RunConfig.build(task, "sgd", {"lr": 0.1}), task=task)
    splits = task.load()
    model = task.build_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in result.epochs:
        loss = ((model(splits.x_train) - splits.y_train) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            val = ((model(splits.x_val) - splits.y_val) ** 2).mean().item()
            test = ((model(splits.x_test) - splits.y_test) ** 2).mean().item()
        assert epoch["train_loss"] == pytest.approx(loss.item(), rel=1e-5)
        assert epoch["val_loss"] == pytest.approx(val, rel=1e-5)
        assert epoch["test_loss"] == pytest.approx(test, rel=1e-5)
        assert epoch["train_acc"] is None and epoch["val_acc"] is None and epoch["test_acc"] is None
    assert result.engine == "autograd"  # the explicit engine is for cross-entropy


def test_loop_and_vectorized_trainer_agree_on_regression() -> None:
    task = regression()
    configs = [RunConfig.build(task, opt, {"lr": lr}, seed=seed)
               for opt, lr in (("sgd", 0.05), ("adam", 0.01)) for seed in (0, 1)]
    vectorized = train_vectorized(configs, task=task)
    for config, stacked in zip(configs, vectorized):
        alone = train(config, task=task)
        assert [e["val_acc"] for e in stacked.epochs] == [None] * 4
        for a, b in zip(alone.epochs, stacked.epochs):
            for key in ("train_loss", "val_loss", "test_loss"):
                assert b[key] == pytest.approx(a[key], rel=1e-4), key
    assert vectorized[0].epochs[-1]["val_loss"] < vectorized[0].epochs[0]["val_loss"]  # it learns


def test_time_to_target_of_a_regression_is_the_first_val_loss_at_or_below_it() -> None:
    probe = train(RunConfig.build(regression(), "adam", {"lr": 0.01}), task=regression())
    losses = [e["val_loss"] for e in probe.epochs]
    target = sorted(losses)[1]  # reached, but not at the first epoch necessarily
    task = regression(target=target)
    result = train(RunConfig.build(task, "adam", {"lr": 0.01}), task=task)
    first = next(e for e in result.epochs if e["val_loss"] <= target)
    assert result.time_to_target == {"epoch": first["epoch"], "seconds": first["elapsed"], "steps": first["steps"]}
    assert train_vectorized([RunConfig.build(task, "adam", {"lr": 0.01}),
                             RunConfig.build(task, "sgd", {"lr": 0.01})], task=task)[0].time_to_target["epoch"] \
        == first["epoch"]
    tracker = RunTracker.of(task)
    assert (tracker.target, tracker.metric) == (target, "val_loss")
