"""The vectorized trainer equals the single-run loop, configuration by configuration.

Each test trains the same configurations (same seeds) both ways on a small synthetic problem and compares the
per-epoch metrics and the final parameters to float32 tolerance.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from descentlab import optim
from descentlab.data import Splits
from descentlab.errors import UserError
from descentlab.tasks import Task, models
from descentlab.train import RunConfig, train
from descentlab.train.vectorized import train_vectorized, unsupported_reason, vectorizable_groups

RTOL, ATOL = 1e-4, 1e-6
TIMING = {"seconds", "eval_seconds", "elapsed", "steps_per_s", "peak_memory_bytes", "shared_by"}


def _splits(features: int = 20, n: int = 240, seed: int = 0, image: bool = False) -> Splits:
    """A learnable 10-class problem: labels from a random linear teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 120, features, generator=g)
    y = (x @ torch.randn(features, 10, generator=g)).argmax(1)
    if image:
        side = math.isqrt(features)
        x = x.view(-1, 1, side, side)
    return Splits("synthetic", x[:n], y[:n], x[n:n + 60], y[n:n + 60], x[n + 60:], y[n + 60:], 10,
                  tuple(x.shape[1:]), "test")


MLP = Task("vec-mlp", "synthetic", partial(models.mlp, 20, 16, 10), 2, 16, None)
RESIDUAL = Task("vec-residual", "synthetic", partial(models.ResidualMLP, 20, 16, 10), 2, 16, None)
# narrow layers on batches of 7 (the last one short): products the matrix library computes with other kernels
# when batched, and rounds by the operands' memory alignment
NARROW = Task("vec-narrow", "synthetic", partial(models.mlp, 20, 7, 3, 10), 2, 7, None)


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 10))


CNN = Task("vec-cnn", "synthetic", _cnn, 2, 16, None)

SPLITS = _splits()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is faster, and spares a loaded 2-core machine from oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(task: Task, name: str, seed: int = 0, **hyper) -> RunConfig:
    return RunConfig.build(task, name, hyper, seed=seed)


def _assert_same(vectorized, single, rtol: float = RTOL, atol: float = ATOL, ignore: frozenset = frozenset()) -> None:
    assert vectorized.status == single.status
    assert vectorized.diverged_step == single.diverged_step
    assert len(vectorized.epochs) == len(single.epochs)
    for ev, es in zip(vectorized.epochs, single.epochs):
        assert set(ev) == set(es)
        for key in set(es) - TIMING - ignore:
            if isinstance(es[key], float):
                assert ev[key] == pytest.approx(es[key], rel=rtol, abs=atol), key
            else:
                assert ev[key] == es[key], key
    if single.status == "completed":
        got, want = vectorized.model.state_dict(), single.model.state_dict()
        for name in want:  # (on the CPU: a run on a GPU is compared with one on the CPU too)
            torch.testing.assert_close(got[name].cpu(), want[name].cpu(), rtol=rtol, atol=atol * 10,
                                       msg=lambda m, name=name: f"{name}: {m}")


def _families() -> list[str]:
    return optim.names()


def _two_configs(task: Task, name: str) -> list[RunConfig]:
    """Two seeds, lr and ×3 lr, and a second differing hyperparameter (weight decay) when the rule has one."""
    base = optim.get(name).hyperparameters()
    lr = base["lr"]
    other = {"weight_decay": base["weight_decay"] + 1e-3} if "weight_decay" in base else {}
    return [_config(task, name, seed=0, lr=lr), _config(task, name, seed=1, lr=lr * 3, **other)]


@pytest.mark.parametrize("update", ["tensor", "auto"])
@pytest.mark.parametrize("name", _families())
def test_each_family_equals_the_loop(name: str, update: str) -> None:
    configs = _two_configs(MLP, name)
    if unsupported_reason(configs[0]):
        # Schedule-free optimizers keep group bookkeeping in step(): they are refused by name, and grouping
        # gives each its own pass so that the executors train it with the single-run loop instead.
        with pytest.raises(UserError, match="cannot vectorize: optimizer"):
            train_vectorized(configs, task=MLP, splits=SPLITS, update=update)
        assert vectorizable_groups(configs) == [[0], [1]]
        return
    vectorized = train_vectorized(configs, task=MLP, splits=SPLITS, update=update)
    for c, v in zip(configs, vectorized):
        _assert_same(v, train(c, task=MLP, splits=SPLITS))


def _vectorizable_families() -> list[str]:
    return [n for n in _families() if not unsupported_reason(_config(MLP, n))]


def _companions(task: Task, name: str) -> tuple[RunConfig, dict[str, list[RunConfig]]]:
    """A configuration ``a`` and passes that hold it beside others: alone, first or last of its seeds, among other
    learning rates and a second differing hyperparameter (tensors in ``update="tensor"``), among other rules."""
    lr = optim.get(name).hyperparameters()["lr"]
    a = _config(task, name, seed=1, lr=lr)
    other = _two_configs(task, name)
    return a, {
        "alone": [a],
        "first": [a, _config(task, name, seed=0, lr=lr)],
        "last": [_config(task, name, seed=0, lr=lr), _config(task, name, seed=2, lr=lr), a],
        "other hyperparameters": [other[1], a, other[0]],
        "other rules": [_config(task, "sgd", seed=0, lr=0.1), a, _config(task, "adam", seed=3, lr=3e-3),
                        _config(task, "rmsprop", seed=1, lr=1e-3)],
    }


def _trained(result) -> tuple[list, list, dict]:
    return ([s["loss"] for s in result.steps],
            [{k: v for k, v in e.items() if k not in TIMING | {"state_bytes"}} for e in result.epochs],
            result.model.state_dict())


def _assert_bitwise(got: tuple[list, list, dict], want: tuple[list, list, dict], where: str) -> None:
    assert got[0] == want[0], f"{where}: per-update losses"
    assert got[1] == want[1], f"{where}: epoch records"
    for key, t in want[2].items():
        assert torch.equal(got[2][key], t), f"{where}: {key}"


@pytest.mark.parametrize("task", [MLP, RESIDUAL, NARROW], ids=lambda t: t.name)
@pytest.mark.parametrize("name", _vectorizable_families())
def test_a_configuration_trains_the_same_bit_for_bit_whatever_shares_its_pass(name: str, task: Task) -> None:
    """A result depends only on its configuration: not on its row in the stack, how many share the pass, nor on
    its companions' hyperparameters or rules (``update="auto"``: Python-number hyperparameters per run of equal
    ones, fused kernels per member); and the single-run loop gives the same bits. With one thread: with more, the
    matrix library splits a product across threads in a way that depends on how many are stacked. ``NARROW``'s
    layers are products the library computes otherwise when batched (``mlp_gradients.stack_agrees``)."""
    a, passes = _companions(task, name)
    alone = _trained(train_vectorized(passes.pop("alone"), task=task, splits=SPLITS, log_steps=True)[0])
    _assert_bitwise(_trained(train(a, task=task, splits=SPLITS, log_steps=True)), alone, "the single-run loop")
    for where, group in passes.items():
        _assert_bitwise(_trained(train_vectorized(group, task=task, splits=SPLITS, log_steps=True)[group.index(a)]),
                        alone, where)


def test_sgd_with_tensor_momentum_zero_is_plain_sgd() -> None:
    # sgd (μ = 0) and momentum (μ = 0.9) are one SGD group with momentum as a tensor holding a zero. The
    # group keeps a momentum buffer for every row, so plain SGD's state_bytes differ from the loop's (0).
    configs = [_config(MLP, "sgd", lr=0.05), _config(MLP, "momentum", lr=0.05, seed=1),
               _config(MLP, "nesterov", lr=0.05, seed=2)]
    vectorized = train_vectorized(configs, task=MLP, splits=SPLITS, update="tensor")
    for c, v in zip(configs, vectorized):
        _assert_same(v, train(c, task=MLP, splits=SPLITS), ignore=frozenset({"state_bytes"}))
    assert vectorized[0].epochs[-1]["state_bytes"] > 0


def test_mixed_optimizers_and_seeds_in_one_pass() -> None:
    configs = [_config(MLP, "adam", seed=3, lr=1e-3), _config(MLP, "sgd", seed=0, lr=0.1),
               _config(MLP, "adam", seed=0, lr=3e-3, weight_decay=1e-2), _config(MLP, "momentum", seed=5, lr=0.01),
               _config(MLP, "adamw", seed=3, lr=2e-3), _config(MLP, "adam", seed=3, lr=1e-3, amsgrad=True)]
    vectorized = train_vectorized(configs, task=MLP, splits=SPLITS)
    for c, v in zip(configs, vectorized):
        _assert_same(v, train(c, task=MLP, splits=SPLITS))


def test_shared_seed_and_full_batch() -> None:
    configs = [_config(MLP, "adam", lr=lr) for lr in (1e-3, 1e-2)]
    _check_all(configs, MLP)
    full = [RunConfig.build(MLP, "sgd", {"lr": lr}, batch_size="full", epochs=3) for lr in (0.1, 0.5)]
    _check_all(full, MLP)


def test_schedule_per_configuration() -> None:
    configs = [RunConfig.build(MLP, "adam", {"lr": 1e-2}, schedule=lambda s: 1e-2 / (1 + s)),
               RunConfig.build(MLP, "adam", {"lr": 1e-2}, seed=1),
               RunConfig.build(MLP, "sgd", {"lr": 0.1}, schedule=lambda s: 0.1 * 0.9**s)]
    for update in ("tensor", "auto"):
        vectorized = train_vectorized(configs, task=MLP, splits=SPLITS, update=update)
        for c, v in zip(configs, vectorized):
            _assert_same(v, train(c, task=MLP, splits=SPLITS))


def _check_all(configs: list[RunConfig], task: Task, **kw) -> list:
    vectorized = train_vectorized(configs, task=task, splits=SPLITS, **kw)
    for c, v in zip(configs, vectorized):
        _assert_same(v, train(c, task=task, splits=SPLITS))
    return vectorized


def test_residual_mlp_takes_the_bmm_path() -> None:
    configs = [_config(RESIDUAL, "adam", seed=s, lr=3e-3) for s in (0, 1)]
    _check_all(configs, RESIDUAL, forward="bmm")


def test_a_diverging_configuration_is_masked_and_the_others_go_on_unchanged() -> None:
    healthy = [_config(MLP, "adam", seed=0, lr=1e-3), _config(MLP, "sgd", seed=1, lr=0.1),
               _config(MLP, "sgd", seed=2, lr=0.05)]
    bad = _config(MLP, "sgd", seed=2, lr=1e4)
    with_bad = train_vectorized([healthy[0], bad, *healthy[1:]], task=MLP, splits=SPLITS)
    without = train_vectorized(healthy, task=MLP, splits=SPLITS)
    single = train(bad, task=MLP, splits=SPLITS)
    assert with_bad[1].status == "diverged" == single.status
    assert with_bad[1].diverged_step == single.diverged_step
    assert with_bad[1].epochs == single.epochs == []  # diverged in the first epoch: nothing reported
    # the timings of each epoch were the pass's, shared by the runs still in it (the diverged one left in epoch 1)
    assert [e["shared_by"] for e in with_bad[0].epochs] == [3] * len(with_bad[0].epochs)
    assert single.epochs == [] and all(e["shared_by"] == 1 for e in train(healthy[0], task=MLP, splits=SPLITS).epochs)
    for a, b in zip([with_bad[0], *with_bad[2:]], without):
        assert a.status == "completed"
        for ea, eb in zip(a.epochs, b.epochs):
            assert {k: v for k, v in ea.items() if k not in TIMING} == {k: v for k, v in eb.items() if k not in TIMING}
        for name, t in b.model.state_dict().items():
            assert torch.equal(a.model.state_dict()[name], t), name


def test_cnn_through_the_vmap_fallback() -> None:
    splits = _splits(features=36, image=True)
    configs = [_config(CNN, "adam", seed=0, lr=3e-3), _config(CNN, "momentum", seed=1, lr=0.02)]
    vectorized = train_vectorized(configs, task=CNN, splits=splits)
    for c, v in zip(configs, vectorized):
        _assert_same(v, train(c, task=CNN, splits=splits))


def test_vmap_path_equals_bmm_path_on_an_mlp() -> None:
    configs = [_config(MLP, "adam", seed=s, lr=3e-3) for s in (0, 1)]
    a = train_vectorized(configs, task=MLP, splits=SPLITS, forward="bmm")
    b = train_vectorized(configs, task=MLP, splits=SPLITS, forward="vmap")
    for x, y in zip(a, b):
        _assert_same(x, y)


def test_vectorizable_groups() -> None:
    configs = [_config(MLP, "adam"), RunConfig.build(MLP, "adam", {}, epochs=3), _config(MLP, "sgd"),
               RunConfig.build(MLP, "adam", {}, batch_size=8)]
    assert vectorizable_groups(configs) == [[0, 2], [1], [3]]
    assert vectorizable_groups(configs[:1] * 5, max_size=2) == [[0, 1], [2, 3], [4]]


class _Frozen(nn.Module):
    """A frozen first layer (requires_grad=False), trained head."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(20, 16), nn.Linear(16, 10)
        self.body.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


class _Tied(nn.Module):
    """One weight reached under two names (a.weight is b.weight)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Linear(20, 20, bias=False), nn.Linear(20, 20, bias=False), nn.Linear(20, 10)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.b(torch.tanh(self.a(x)))))


@pytest.mark.parametrize(("model", "message"), [(_Frozen, "has frozen parameters .*body.weight"),
                                                (_Tied, "shares parameters .*a.weight = b.weight")])
def test_frozen_or_tied_parameters_are_not_stacked_and_train_as_one_run_at_a_time(model, message, request) -> None:
    """The stack would train a frozen layer and untie tied weights, silently: it refuses in one line, and the
    executor trains the runs one at a time instead, frozen layers unchanged."""
    from descentlab.experiments.executors import train_group
    from descentlab.tasks.registry import TASKS, register

    task = register(Task(f"vec-{model.__name__.strip('_').lower()}", "synthetic", model, 2, 16, None))
    request.addfinalizer(lambda: TASKS.unregister(task.name))
    configs = [_config(task, "adam", seed=s, lr=1e-2) for s in (0, 1)]
    with pytest.raises(UserError, match=f"cannot vectorize task .*: its model {message}"):
        train_vectorized(configs, task=task, splits=SPLITS)
    for config, result in zip(configs, train_group(configs, SPLITS)):
        _assert_same(result, train(config, task=task, splits=SPLITS), rtol=0, atol=0)
        start = task.build_model(config.seed)
        if model is _Frozen:
            assert torch.equal(result.model.body.weight, start.body.weight)
            assert not torch.equal(result.model.head.weight, start.head.weight)
        else:
            assert result.model.a.weight is result.model.b.weight


def test_a_frozen_network_trains_on_autograd_without_a_warning(caplog) -> None:
    """The explicit engine computes every gradient: a frozen network is autograd's, and no 'disagrees' warning."""
    from descentlab.train.engine import gradient_engine

    task = Task("vec-frozen-engine", "synthetic", _Frozen, 2, 16, None)
    model = task.build_model(0)
    with caplog.at_level("WARNING", logger="descentlab.train.engine"):
        assert gradient_engine(model, task, "auto", (SPLITS.x_train, SPLITS.y_train)) is None
    assert not caplog.records
    with pytest.raises(UserError, match="frozen parameters"):
        gradient_engine(model, task, "explicit", (SPLITS.x_train, SPLITS.y_train))


def test_auto_splits_into_runs_of_equal_hyperparameters_on_a_cpu_only() -> None:
    """On a CPU (where a run's bits do not depend on what shares its pass) every rule is split into runs of equal
    hyperparameters; on another device none is: each rule keeps one slot with tensor hyperparameters (one launch,
    not one per run, nor one fused-kernel call per run). ``_plan`` only plans: no GPU is needed to check it."""
    from descentlab.train.vectorized import _plan

    configs = [_config(MLP, "rmsprop", lr=lr) for lr in (1e-3, 3e-3, 1e-2)]
    configs += [_config(MLP, "adam", lr=lr) for lr in (1e-3, 3e-3)]
    on_cpu = _plan(configs, "auto", torch.device("cpu"))[1]
    on_gpu = _plan(configs, "auto", torch.device("cuda"))[1]
    assert [(s.rule.name, len(s.members), s.fused) for s in on_cpu] == [
        ("rmsprop", 1, False), ("rmsprop", 1, False), ("rmsprop", 1, False), ("adam", 1, True), ("adam", 1, True)]
    assert [(s.rule.name, len(s.members), s.fused) for s in on_gpu] == [("rmsprop", 3, False), ("adam", 2, False)]
    assert [len(s.members) for s in _plan(configs, "tensor", torch.device("cpu"))[1]] == [3, 2]


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@CUDA
@pytest.mark.parametrize("name", _families())
def test_on_cuda_each_family_equals_the_loop_on_cuda_and_the_loop_on_the_cpu(name: str) -> None:
    """On a GPU the pass plans otherwise (one slot per rule, differing hyperparameters as tensor columns, whether
    or not the rule has a fused kernel): each configuration still trains as the single-run loop does there, and as
    it does on the CPU (float32, other kernels: to the tolerance of the pass)."""
    configs = _two_configs(MLP, name)
    single = [train(c, task=MLP, splits=SPLITS, device="cuda") for c in configs]
    # Muon orthogonalizes in bfloat16 (as torch's): the GPU's and the CPU's bf16 products round differently, by
    # up to 2⁻⁸ of an update, so its weights agree to bf16's tolerance (4.7e-4 apart at most on an H200, 2026-11-30;
    # 1e-3 allowed); its metrics within 1e-4
    weights = {"atol": 1e-4} if name == "muon" else {}
    for c, s in zip(configs, single):
        assert all(p.device.type == "cuda" for p in s.model.parameters())
        _assert_same(s, train(c, task=MLP, splits=SPLITS), **weights)
    if unsupported_reason(configs[0]):
        return
    for v, s in zip(train_vectorized(configs, task=MLP, splits=SPLITS, device="cuda"), single):
        _assert_same(v, s, **weights)  # (batched bf16 products against single ones: Muon's tolerance again)


@CUDA
def test_on_cuda_a_cnn_through_vmap_and_a_diverging_configuration() -> None:
    splits = _splits(features=36, image=True)
    configs = [_config(CNN, "adam", seed=0, lr=3e-3), _config(CNN, "momentum", seed=1, lr=0.02)]
    for c, v in zip(configs, train_vectorized(configs, task=CNN, splits=splits, device="cuda")):
        _assert_same(v, train(c, task=CNN, splits=splits, device="cuda"))
    healthy, bad = _config(MLP, "adam", seed=0, lr=1e-3), _config(MLP, "sgd", seed=2, lr=1e4)
    got = train_vectorized([healthy, bad], task=MLP, splits=SPLITS, device="cuda")
    single = train(bad, task=MLP, splits=SPLITS, device="cuda")
    assert got[1].status == single.status == "diverged" and got[1].diverged_step == single.diverged_step
    _assert_same(got[0], train(healthy, task=MLP, splits=SPLITS, device="cuda"))
