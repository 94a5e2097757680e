"""The single-configuration training loop: metrics, batch policies, divergence, determinism, resume, targets."""

from __future__ import annotations

import json
import math

import pytest
import torch

from descentlab.errors import UserError
from descentlab.schedules import Cosine, Warmup
from descentlab.tasks import get_task
from descentlab.train import Callback, RunConfig, train

from .conftest import synthetic_splits

KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
        "eval_seconds", "elapsed", "steps", "steps_per_s", "state_bytes", "peak_memory_bytes", "shared_by"}
TIMING = {"seconds", "eval_seconds", "elapsed", "steps_per_s", "peak_memory_bytes"}  # measured, not computed


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine OpenMP spin-waits dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(task, optimizer="adam", hyper=None, **kw):
    return RunConfig.build(task, optimizer, hyper or {"lr": 1e-2}, **kw)


def untimed(epochs):
    return [{k: v for k, v in m.items() if k not in TIMING} for m in epochs]


def test_metrics_per_epoch(task, splits):
    result = train(config(task, epochs=3), task=task, splits=splits)
    assert result.status == "completed" and result.diverged_step is None
    assert [m["epoch"] for m in result.epochs] == [1, 2, 3]
    for m in result.epochs:
        assert set(m) == KEYS
        assert 0 <= m["train_acc"] <= 1 and 0 <= m["val_acc"] <= 1 and 0 <= m["test_acc"] <= 1
        assert m["seconds"] > 0 and m["eval_seconds"] > 0 and m["steps_per_s"] > 0
        assert (m["peak_memory_bytes"] is None or m["peak_memory_bytes"] > 0) and m["lr"] == 1e-2
    params = sum(p.numel() for p in result.model.parameters())
    assert result.epochs[-1]["state_bytes"] == 2 * 4 * params + 4 * 4  # exp_avg, exp_avg_sq, 4 float32 steps
    assert result.epochs[0]["train_loss"] > result.epochs[-1]["train_loss"]
    json.dumps(result.to_dict())


@pytest.mark.parametrize(("batch_size", "per_epoch"), [("full", 1), (1, 100), (32, 4), (100, 1), (500, 1)])
def test_batch_policies(task, splits, batch_size, per_epoch):
    result = train(config(task, "sgd", {"lr": 0.05}, epochs=2, batch_size=batch_size), task=task, splits=splits)
    assert [m["steps"] for m in result.epochs] == [per_epoch, 2 * per_epoch]


def test_train_loss_is_weighted_by_batch_size(task, splits):
    # With lr = 0 the weights never move, so the epoch's train loss is the full-data loss whatever the batches.
    full = train(config(task, "sgd", {"lr": 0.0}, epochs=1, batch_size="full"), task=task, splits=splits)
    mini = train(config(task, "sgd", {"lr": 0.0}, epochs=1, batch_size=32), task=task, splits=splits)
    assert mini.epochs[0]["train_loss"] == pytest.approx(full.epochs[0]["train_loss"], rel=1e-6)
    assert mini.epochs[0]["train_acc"] == full.epochs[0]["train_acc"]


def test_divergence_stops_that_run_only(task, splits):
    seen = []

    class Record(Callback):
        def on_epoch_end(self, epoch, metrics):
            seen.append(epoch)

    bad = train(config(task, "sgd", {"lr": 1e6}, epochs=3, batch_size=1), task=task, splits=splits,
                callbacks=[Record()])
    assert bad.status == "diverged" and 1 <= bad.diverged_step <= 300
    assert len(bad.epochs) == seen[-1] if seen else bad.epochs == []
    assert all(math.isfinite(m["train_loss"]) for m in bad.epochs)
    good = train(config(task, "sgd", {"lr": 0.05}, epochs=3, batch_size=1), task=task, splits=splits)
    assert good.status == "completed" and good.diverged_step is None and len(good.epochs) == 3


def test_divergence_check_granularity(task, splits):
    coarse = train(config(task, "sgd", {"lr": 1e6}, epochs=3, batch_size=1), task=task, splits=splits,
                   check_every=50)
    fine = train(config(task, "sgd", {"lr": 1e6}, epochs=3, batch_size=1), task=task, splits=splits)
    assert coarse.status == "diverged" and coarse.diverged_step % 50 == 0
    assert fine.diverged_step <= coarse.diverged_step < fine.diverged_step + 50


def test_bitwise_deterministic(task, splits):
    a = train(config(task, epochs=3, seed=5), task=task, splits=splits)
    b = train(config(task, epochs=3, seed=5), task=task, splits=splits)
    c = train(config(task, epochs=3, seed=6), task=task, splits=splits)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert untimed(a.epochs) == untimed(b.epochs)
    assert not torch.equal(next(a.model.parameters()), next(c.model.parameters()))


class Interrupt(Exception):
    pass


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, metrics):
        if epoch == self.epoch:
            raise Interrupt


@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
def test_resume_from_checkpoint_is_bitwise_identical(task, splits, tmp_path, optimizer):
    cfg = config(task, optimizer, epochs=5, seed=1)
    whole = train(cfg, task=task, splits=splits, checkpoint_path=tmp_path / "whole.pt")
    path = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        train(cfg, task=task, splits=splits, checkpoint_path=path, callbacks=[StopAfter(2)])
    resumed = train(cfg, task=task, splits=splits, checkpoint_path=path)
    for pa, pb in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(pa, pb)
    assert untimed(whole.epochs) == untimed(resumed.epochs)
    assert resumed.epochs[:2] == torch.load(path, weights_only=True)["metrics"][:2]
    assert resumed.time_to_target == whole.time_to_target | {"seconds": resumed.time_to_target["seconds"]}
    again = train(cfg, task=task, splits=splits, checkpoint_path=path)  # finished: nothing left to train
    assert again.epochs == resumed.epochs
    with pytest.raises(UserError, match="another configuration"):
        train(config(task, optimizer, epochs=5, seed=2), task=task, splits=splits, checkpoint_path=path)


def test_time_to_target(task, splits):
    result = train(config(task, epochs=4), task=task, splits=splits)
    reached = result.time_to_target
    first = next(m for m in result.epochs if m["val_acc"] >= task.target_val_acc)
    assert reached == {"epoch": first["epoch"], "seconds": first["elapsed"], "steps": first["steps"]}
    from dataclasses import replace
    never = replace(task, target_val_acc=1.01)
    assert train(config(never, epochs=2), task=never, splits=splits).time_to_target is None


def test_schedule_sets_the_learning_rate_per_step(task, splits):
    seen = []

    def schedule(k):
        seen.append(k)
        return 0.0 if k < 7 else 0.01

    cfg = config(task, "sgd", {"lr": 0.5}, epochs=2, batch_size=10, schedule=schedule)
    result = train(cfg, task=task, splits=splits)
    assert seen == list(range(20)) and result.epochs[-1]["lr"] == 0.01
    frozen = train(config(task, "sgd", epochs=1, batch_size=10, schedule=lambda k: 0.0), task=task, splits=splits)
    init = task.build_model(0)
    for p, q in zip(frozen.model.parameters(), init.parameters()):
        assert torch.equal(p, q)
    assert cfg.to_dict()["schedule"]["type"].endswith("schedule")
    cosine = Warmup(Cosine(0.1, T_max=15), 5)
    result = train(config(task, "sgd", epochs=2, batch_size=10, schedule=cosine), task=task, splits=splits)
    assert result.epochs[0]["lr"] == cosine(9) and result.epochs[1]["lr"] == cosine(19)


def test_callbacks_in_order(task, splits):
    events = []

    class Log(Callback):
        def on_run_start(self, config):
            events.append("start")

        def on_epoch_end(self, epoch, metrics):
            events.append(epoch)

        def on_run_end(self, result):
            events.append(result.status)

    train(config(task, epochs=2), task=task, splits=splits, callbacks=[Log()])
    assert events == ["start", 1, 2, "completed"]


def test_empty_validation_split(task):
    s = synthetic_splits(n_val=0)
    result = train(config(task, epochs=1), task=task, splits=s)
    assert result.epochs[0]["val_acc"] is None and result.time_to_target is None


def test_config_identity_and_validation(task):
    cfg = RunConfig.build("digits-mlp", "adam", {"lr": 3e-3}, schedule=Warmup(Cosine(3e-3, T_max=100), 10))
    d = cfg.to_dict()
    assert d["epochs"] == 30 and d["batch_size"] == 32 and d["hyperparameters"]["betas"] == [0.9, 0.999]
    assert d["schedule"]["type"] == "Warmup" and d["schedule"]["schedule"]["type"] == "Cosine"
    assert json.loads(json.dumps(d)) == d
    same = RunConfig.build("digits_mlp", "Adam", {"lr": 3e-3}, schedule=Warmup(Cosine(3e-3, T_max=100), 10))
    assert same == cfg and same.digest() == cfg.digest()
    assert RunConfig.build("digits-mlp", "adam", {"lr": 1e-3}).digest() != cfg.digest()
    for bad in (0, -1, 2.5, "half", True):
        with pytest.raises(UserError, match="batch_size"):
            RunConfig.build(task, "sgd", batch_size=bad)
    with pytest.raises(UserError, match="epochs"):
        RunConfig.build(task, "sgd", epochs=0)
    with pytest.raises(UserError, match="unknown optimizer"):
        RunConfig.build(task, "adamm")
    with pytest.raises(UserError, match="init"):
        RunConfig.build(task, "sgd", init="glorot")


def test_mlp_learns_digits_with_adam():
    result = train(RunConfig.build("digits-mlp", "adam", {"lr": 3e-3}, epochs=4, seed=0))
    assert result.status == "completed"
    assert result.epochs[-1]["val_acc"] > 0.9
    assert get_task("digits-mlp").target_val_acc == 0.95


@pytest.mark.parametrize("name", ["sgd-schedulefree", "adamw-schedulefree"])
def test_schedule_free_trains_and_is_evaluated_at_the_average(name: str) -> None:
    """The loop switches schedule-free optimizers to train() for steps and eval() for evaluation."""
    from descentlab.data import load_dataset
    from descentlab.train.loop import evaluate

    splits = load_dataset("digits")
    lr = {"sgd-schedulefree": 0.1, "adamw-schedulefree": 3e-3}[name]
    config = RunConfig.build("digits-mlp", name, {"lr": lr}, epochs=3, batch_size=32)
    result = train(config, splits=splits)
    assert result.status == "completed"
    assert result.epochs[-1]["val_acc"] > 0.7  # chance is 0.1
    # the returned model is the averaged point x, the one the last epoch's metrics were computed at
    _, val_acc = evaluate(result.model, splits.x_val, splits.y_val, torch.nn.functional.cross_entropy)
    assert val_acc == result.epochs[-1]["val_acc"]


def test_muon_config_is_describable_and_trains() -> None:
    """Muon's hyperparameters include a torch.dtype (ns_dtype): the config must still hash and train."""
    config = RunConfig.build("digits-mlp", "muon", {"lr": 0.02}, epochs=1, batch_size=64)
    assert config.to_dict()["hyperparameters"]["ns_dtype"] == "torch.bfloat16"
    assert len(config.digest()) == 64
    assert train(config, splits=synthetic_splits(features=64, classes=10)).status == "completed"


def test_training_flushes_denormals_only_while_it_runs() -> None:
    from descentlab.train.denormals import flushing

    assert not flushing()
    seen = []

    class Probe(Callback):
        def on_epoch_end(self, epoch, metrics):
            seen.append(flushing())

    train(RunConfig.build("digits-mlp", "sgd", epochs=1), splits=synthetic_splits(features=64, classes=10),
          callbacks=[Probe()])
    assert seen == [True] and not flushing()


def test_peak_memory_is_measured_per_run_and_grows_with_the_batch() -> None:
    """On Linux the process's peak RSS is reset at the start of each run: full-batch GD on a big dataset holds
    far more activations than mini-batches of 8. Run in a fresh process: a long test session keeps heap that a
    run can reuse (see descentlab.train.memory), which would hide the difference."""
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("peak memory on a CPU is read from /proc (Linux)")
    program = (
        "import json\n"
        "from tests.train.conftest import synthetic_splits\n"
        "from descentlab.train import RunConfig, train\n"
        "splits = synthetic_splits(n_train=60_000, features=64, classes=10)\n"
        "peaks = {str(b): train(RunConfig.build('digits-mlp', 'sgd', epochs=1, batch_size=b), splits=splits)"
        ".epochs[-1]['peak_memory_bytes'] for b in ('full', 8)}\n"
        "print(json.dumps(peaks))\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=root)
    peaks = json.loads(out.stdout.strip().splitlines()[-1])
    assert peaks["8"] > 0 and peaks["full"] > peaks["8"] + 10 * 2**20, peaks


def test_a_dropout_network_is_a_function_of_its_seed_alone() -> None:
    """Dropout draws from the run's own stream, seeded from the run's seed: what ran before it in the process (the
    other runs of a group, of another grouping, of a resumed experiment) changes nothing, and the process's
    random state is left as it was."""
    from torch import nn

    from descentlab.tasks import custom_task

    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = (x[:, 0] > 0).long()
    task = custom_task("dropout-net", model=lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5),
                                                                    nn.Linear(16, 2)),
                       x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:], epochs=2, batch_size=16)
    cfg = RunConfig.build(task, "sgd", {"lr": 0.1}, seed=3)
    first = train(cfg, task=task)
    torch.rand(1000)  # another run's draws
    state = torch.get_rng_state()
    second = train(cfg, task=task)
    assert untimed(second.epochs) == untimed(first.epochs)
    assert torch.equal(torch.get_rng_state(), state)
    other = train(RunConfig.build(task, "sgd", {"lr": 0.1}, seed=4), task=task)
    assert untimed(other.epochs) != untimed(first.epochs)


# --- optimizers whose step takes a closure (loop.Reevaluate) --------------------------------------------------
SAM_FILE = '''
import torch


class ClosureSAM(torch.optim.Optimizer):
    """SAM (Foret et al. 2021) as it is usually published: closure=None in the signature, needed in fact."""

    def __init__(self, params, lr=0.1, rho=0.05):
        super().__init__(params, dict(lr=lr, rho=rho))

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is not None, "SAM requires closure"
        grads = [p.grad for g in self.param_groups for p in g["params"]]
        norm = torch.norm(torch.stack([g.norm() for g in grads]))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["e"] = p.grad * (group["rho"] / (norm + 1e-12))
                p.add_(self.state[p]["e"])
        self.zero_grad()
        with torch.enable_grad():
            closure()
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(self.state[p]["e"]).add_(p.grad, alpha=-group["lr"])
'''


def _by_hand(task, splits, make_opt, epochs, batch, seed=0):
    """The same training written by hand in plain PyTorch: the workbench's model and epoch order, the closure
    idiom of LBFGS and SAM (loss and gradients first, then ``step(closure)``), the mean training loss of each epoch
    (of the losses at the start of each step)."""
    from descentlab.train.core import permutation

    model = task.build_model(seed)
    opt = make_opt(model.parameters())
    means = []
    for epoch in range(1, epochs + 1):
        total = 0.0
        for idx in permutation(len(splits.y_train), seed, epoch).split(batch):
            x, y = splits.x_train[idx], splits.y_train[idx]

            def closure(x=x, y=y):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                return loss

            total += closure().item() * len(idx)
            opt.step(closure)
        means.append(total / len(splits.y_train))
    return model, means


@pytest.mark.parametrize("engine", ["autograd", "explicit"])
def test_lbfgs_gets_a_closure_and_trains_as_by_hand(task, splits, engine):
    config = RunConfig.build(task, "torch.optim:LBFGS", {"lr": 0.5, "max_iter": 4, "history_size": 5},
                             epochs=2, batch_size=25)
    result = train(config, task=task, splits=splits, engine=engine)
    assert result.status == "completed" and result.engine == engine
    model, means = _by_hand(task, splits, lambda p: torch.optim.LBFGS(p, lr=0.5, max_iter=4, history_size=5), 2, 25)
    assert [e["train_loss"] for e in result.epochs] == pytest.approx(means, rel=1e-5)
    for a, b in zip(result.model.parameters(), model.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_sam_style_optimizer_is_given_its_closure_and_trains_as_by_hand(task, splits, tmp_path):
    path = tmp_path / "sam.py"
    path.write_text(SAM_FILE)
    config = RunConfig.build(task, f"{path}:ClosureSAM", {"lr": 0.1}, epochs=2, batch_size=25)
    result = train(config, task=task, splits=splits, engine="autograd")
    assert result.status == "completed" and result.error is None
    from descentlab import optim

    cls = optim.get(f"{path}:ClosureSAM").cls
    model, means = _by_hand(task, splits, lambda p: cls(p, lr=0.1), 2, 25)
    for a, b in zip(result.model.parameters(), model.parameters()):
        assert torch.equal(a, b)


class _Counted(torch.nn.Sequential):
    calls = 0

    def forward(self, x):
        _Counted.calls += 1
        return super().forward(x)


def test_an_optimizer_that_calls_its_closure_once_costs_no_second_pass(splits, monkeypatch):
    """torch's Adam, given the closure, calls it once at the untouched weights: no second forward pass, and the
    same bits as when it is stepped without one."""
    from descentlab.tasks import Task
    from descentlab.train import loop

    counted = Task("counted", "synthetic", lambda: _Counted(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                                            torch.nn.Linear(16, 3)), 2, 16, None)
    config = RunConfig.build(counted, "torch.optim:Adam", {"lr": 1e-2}, epochs=2)
    runs = []
    for closure in (True, False):
        monkeypatch.setattr(loop, "takes_closure", lambda opt, closure=closure: closure)
        _Counted.calls = 0
        runs.append((train(config, task=counted, splits=splits, engine="autograd"), _Counted.calls))
    (given, given_calls), (plain, plain_calls) = runs
    assert given_calls == plain_calls
    assert untimed(given.epochs) == untimed(plain.epochs)
    for a, b in zip(given.model.parameters(), plain.model.parameters()):
        assert torch.equal(a, b)


def test_without_held_out_evaluation_the_training_is_the_same_and_val_and_test_are_none() -> None:
    """``held_out=False`` (lr-find's runs): the same updates and training losses, to the bit; no validation or test
    metric (and no target reached, which needs one)."""
    config = RunConfig.build("digits-mlp", "adam", {"lr": 3e-3}, epochs=2, seed=1)
    full, lean = train(config, log_steps=True), train(config, log_steps=True, held_out=False)
    assert lean.steps == full.steps and len(lean.epochs) == len(full.epochs) == 2
    for a, b in zip(lean.epochs, full.epochs):
        assert (a["train_loss"], a["train_acc"]) == (b["train_loss"], b["train_acc"])
        assert (a["val_loss"], a["val_acc"], a["test_loss"], a["test_acc"]) == (None, None, None, None)
        assert b["val_loss"] is not None and b["test_acc"] is not None
    assert lean.time_to_target is None
    for name, t in full.model.state_dict().items():
        assert torch.equal(lean.model.state_dict()[name], t), name
