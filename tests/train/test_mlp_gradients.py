"""Explicit back-propagation against torch.autograd: loss, logits and every gradient, per node kind and layout."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from descentlab.errors import UserError
from descentlab.tasks import Task, get_task, models
from descentlab.train import RunConfig, train
from descentlab.train.mlp_gradients import MLPGradients
from descentlab.train.vectorized import train_vectorized

from .conftest import synthetic_splits


class _FunctionalMix(nn.Module):
    """Functions and methods rather than modules, a residual sum, torch.flatten, and no bias on one layer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(12, 9)
        self.b = nn.Linear(9, 9, bias=False)
        self.c = nn.Linear(9, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.a(torch.flatten(x, 1)))
        h = h + F.leaky_relu(self.b(h), 0.2)
        h = torch.relu(h).sigmoid()
        return self.c(h)


NETWORKS = {
    "classic-mlp": (partial(models.mlp, 784, 32, 10), (1, 28, 28), 10),
    "residual": (partial(models.ResidualMLP, 40, 16, 10), (40,), 10),
    "logreg": (partial(models.mlp, 64, 10), (8, 8), 10),
    "activations": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 8),
                                          nn.Sigmoid(), nn.Linear(8, 8), nn.LeakyReLU(0.1), nn.Identity(),
                                          nn.Linear(8, 5)), (12,), 5),
    "functional": (_FunctionalMix, (3, 4), 4),
}


def _reference(model: nn.Module, names: list[str], params: list[torch.Tensor], x, y):
    """Loss, logits and gradients of one copy by autograd."""
    leaves = [p.clone().requires_grad_(True) for p in params]
    logits = torch.func.functional_call(model, dict(zip(names, leaves)), (x,))
    loss = F.cross_entropy(logits, y)
    return loss.detach(), logits.detach(), torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layout", ["single", "shared", "per-config"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_matches_autograd(network: str, layout: str, dtype: torch.dtype) -> None:
    build, shape, classes = NETWORKS[network]
    torch.manual_seed(0)
    model = build().to(dtype)
    engine = MLPGradients.of(model)
    assert engine is not None and engine.names == [n for n, _ in model.named_parameters()]
    k, b = 3, 7
    g = torch.Generator().manual_seed(1)
    stacked = [torch.stack([p.detach() + 0.1 * k_ * torch.randn(p.shape, generator=g, dtype=dtype)
                            for k_ in range(k)]) for p in model.parameters()]
    per_config = layout == "per-config"
    x = torch.randn(((k,) if per_config else ()) + (b, *shape), generator=g, dtype=dtype)
    y = torch.randint(0, classes, ((k,) if per_config else ()) + (b,), generator=g)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    if layout == "single":
        params = [s[0].clone() for s in stacked]
        loss, logits, grads = engine.single(params, x, y)
        want = _reference(model, engine.names, params, x, y)
        torch.testing.assert_close(loss, want[0], **tol)
        torch.testing.assert_close(logits, want[1], **tol)
        for got, ref, name in zip(grads, want[2], engine.names):
            assert got.shape == ref.shape
            torch.testing.assert_close(got, ref, **tol, msg=name)
        return
    losses, logits, grads = engine(stacked, x, y, per_config)
    assert losses.shape == (k,) and logits.shape == (k, b, classes)
    for i in range(k):
        want = _reference(model, engine.names, [s[i] for s in stacked], x[i] if per_config else x,
                          y[i] if per_config else y)
        torch.testing.assert_close(losses[i], want[0], **tol)
        torch.testing.assert_close(logits[i], want[1], **tol)
        for got, ref, name in zip(grads, want[2], engine.names):
            torch.testing.assert_close(got[i], ref, **tol, msg=f"{name}[{i}]")


def test_single_copy_gradients_are_autograds_bits_on_cpu() -> None:
    torch.manual_seed(0)
    model = models.mlp(784, 128, 10)
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    engine = MLPGradients.of(model)
    loss, _, grads = engine.single([p.detach() for p in model.parameters()], x, y)
    want = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    # The loss is the mean of the per-example losses, as a copy in a stack reports it (NLL's own mean sums in
    # another order, an ulp away): the gradients are autograd's bits all the same.
    per_example = F.cross_entropy(model(x), y, reduction="none").detach()
    assert torch.equal(loss, per_example.view(1, -1).mean(1)[0])
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y).detach(), rtol=2e-7, atol=0)
    assert all(torch.equal(a, b) for a, b in zip(grads, want))
    # Written in place into given buffers (the training loop's .grad tensors): the same bits, in those tensors.
    buffers = [torch.full_like(p, float("nan")) for p in model.parameters()]
    _, _, written = engine.single([p.detach() for p in model.parameters()], x, y, into=buffers)
    assert all(w is b for w, b in zip(written, buffers))
    assert all(torch.equal(a, b) for a, b in zip(buffers, want))


def test_a_value_used_twice_gets_the_sum_of_its_gradients() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(5, 6), nn.Linear(6, 3)

        def forward(self, x):
            h = self.a(x).relu()
            return self.b(h + h)

    model = Twice()
    x, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 1])
    engine = MLPGradients.of(model)
    params = [p.detach() for p in model.parameters()]
    _, _, grads = engine.single(params, x, y)
    for got, ref in zip(grads, _reference(model, engine.names, params, x, y)[2]):
        torch.testing.assert_close(got, ref)


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(self.a(x))


class _AddConstant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)

    def forward(self, x):
        return self.a(x) + 1.0


@pytest.mark.parametrize("model", [
    models.small_cnn(), models.mnist1d_cnn(),                 # convolutions
    nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2)),  # an activation without an output-only backward
    nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),          # buffers
    nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(-0.5)),         # the sign of the output no longer tells the branch
    _Shared(), _AddConstant(),
], ids=["small-cnn", "mnist1d-cnn", "gelu", "batchnorm", "negative-slope", "shared-layer", "add-constant"])
def test_unsupported_networks_are_declined(model: nn.Module) -> None:
    assert MLPGradients.of(model) is None


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2)),
    nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(-0.5), nn.Linear(4, 2)),
    _AddConstant(),
], ids=["gelu", "negative-slope", "add-constant"])
def test_the_program_replays_forward_only_ops_for_the_stacked_forward(model: nn.Module) -> None:
    """One program per network: ops without an explicit backward are replayed forward (autograd differentiates
    them), so the stacked forward (training on autograd, and evaluation) is the same program as the engine's."""
    program = MLPGradients.trace(model)
    assert program is not None and not program.explicit and MLPGradients.of(model) is None
    params = [p.detach() for _, p in model.named_parameters()]
    x = torch.randn(5, 4)
    stacked = [torch.stack([p, 2 * p]) for p in params]
    out = program.forward(stacked, x, False)
    with torch.no_grad():
        expected = [model(x), torch.func.functional_call(model, {n: 2 * p for n, p in model.named_parameters()},
                                                         (x,))]
    torch.testing.assert_close(out, torch.stack(expected))
    with pytest.raises(ValueError, match="without an explicit backward"):
        program(stacked, x, torch.zeros(5, dtype=torch.long), False)


def test_other_losses_are_declined() -> None:
    assert MLPGradients.of(models.mlp(4, 3), loss="mse") is None


# --- the training front-ends use it, and agree with autograd ------------------------------------------------

TASK = Task("engine-mlp", "synthetic", partial(models.mlp, 8, 16, 3), 3, 16, None)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_loop_explicit_equals_autograd(optimizer: str) -> None:
    splits = synthetic_splits()
    config = RunConfig.build(TASK, optimizer, {"lr": 1e-2}, epochs=3)
    a = train(config, task=TASK, splits=splits, engine="explicit")
    b = train(config, task=TASK, splits=splits, engine="autograd")
    for ea, eb in zip(a.epochs, b.epochs):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"):
            assert ea[key] == pytest.approx(eb[key], rel=1e-5, abs=1e-7), key
    for name, value in b.model.state_dict().items():
        torch.testing.assert_close(a.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_vectorized_explicit_equals_autograd() -> None:
    splits = synthetic_splits()
    configs = [RunConfig.build(TASK, "adam", {"lr": lr}, epochs=2, seed=s) for lr, s in ((1e-3, 0), (1e-2, 1))]
    a = train_vectorized(configs, task=TASK, splits=splits, engine="explicit")
    b = train_vectorized(configs, task=TASK, splits=splits, engine="autograd")
    for ra, rb in zip(a, b):
        for ea, eb in zip(ra.epochs, rb.epochs):
            assert ea["val_loss"] == pytest.approx(eb["val_loss"], rel=1e-5)
            assert ea["train_acc"] == eb["train_acc"]


def test_engine_choice_is_checked() -> None:
    splits = synthetic_splits()
    config = RunConfig.build(TASK, "adam", {}, epochs=1)
    with pytest.raises(UserError, match=r"engine must be one of auto, explicit, autograd, got 'fast'"):
        train(config, task=TASK, splits=splits, engine="fast")
    cnn = get_task("mnist1d-cnn")
    with pytest.raises(UserError, match=r"task 'mnist1d-cnn': its network or loss is not one the explicit engine"):
        train(RunConfig.build(cnn, "adam", {}, epochs=1), task=cnn, splits=splits, engine="explicit")


@pytest.mark.parametrize("name", ["digits-mlp", "mnist1d-mlp", "fashion-mlp", "mnist-logreg"])
def test_built_in_mlps_give_each_copy_of_a_stack_the_single_copys_bits(name: str) -> None:
    """The README's promise that a built-in MLP task trains the same bits alone and in any vectorized pass rests on
    this: at one thread, every layer's batched product (one copy among K) rounds as the single copy's matrix
    product, at any batch size — a full batch, a short last one, one example — and any stack size (the batched
    kernels where they agree, the single copy's products where ``stack_agrees`` finds they do not)."""
    task = get_task(name)
    models_ = [task.build_model(seed) for seed in range(5)]
    engine = MLPGradients.of(models_[0])
    features = next(m for m in models_[0].modules() if isinstance(m, nn.Linear)).in_features
    g = torch.Generator().manual_seed(0)
    for batch in (1, 3, 7, task.default_batch_size):
        x = torch.randn(batch, features, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)
        want = engine.single([p.detach() for p in models_[-1].parameters()], x, y)
        for k in (1, 2, 5):
            stack = [torch.stack([p.detach() for p in ps])
                     for ps in zip(*[list(m.parameters()) for m in models_[-k:]])]
            losses, logits, grads = engine(stack, x, y, False)
            where = f"batch {batch}, stack of {k}"
            assert torch.equal(losses[-1], want[0]), where
            assert torch.equal(logits[-1], want[1]), where
            assert all(torch.equal(a[-1], b) for a, b in zip(grads, want[2])), where
