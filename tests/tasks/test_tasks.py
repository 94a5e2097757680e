"""Tasks: shapes of every model, the two initializations, seeding, the registry."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from descentlab.errors import UserError
from descentlab.tasks import Task, apply_init, build, get_task, task_names
from descentlab.tasks.models import ResidualMLP, mnist1d_cnn

INPUT_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "mnist1d": (40,), "digits": (1, 8, 8)}
EXPECTED = ["mnist-mlp", "fashion-mlp", "mnist1d-mlp", "mnist1d-cnn", "mnist-logreg", "fashion-cnn", "digits-mlp"]


def test_registry_lists_the_tasks():
    assert task_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
@pytest.mark.parametrize("init", ["torch", "keras"])
def test_model_maps_a_batch_to_ten_logits(name, init):
    task = get_task(name)
    model = task.build_model(seed=0, init=init)
    x = torch.randn(5, *INPUT_SHAPES[task.dataset])
    assert model(x).shape == (5, 10)
    assert task.default_epochs >= 1 and task.target_val_acc is not None and task.description


def test_mnist1d_models_match_the_paper():
    # MLPBase: 40·100+100 + 100·100+100 + 100·10+10; ConvBase: 150 + 1900 + 1900 + 1260.
    assert sum(p.numel() for p in ResidualMLP().parameters()) == 15210
    assert sum(p.numel() for p in mnist1d_cnn().parameters()) == 5210


def test_classic_mlp_and_logreg_layers():
    mlp = get_task("mnist-mlp").build_model(0)
    assert [tuple(m.weight.shape) for m in mlp.modules() if isinstance(m, nn.Linear)] == [(128, 784), (10, 128)]
    logreg = get_task("mnist-logreg").build_model(0)
    assert [tuple(m.weight.shape) for m in logreg.modules() if isinstance(m, nn.Linear)] == [(10, 784)]
    assert get_task("mnist-logreg").default_batch_size == 128


@pytest.mark.parametrize("name", ["fashion-cnn", "mnist1d-cnn", "mnist-mlp"])
def test_keras_init_is_glorot_uniform_with_zero_bias(name):
    model = get_task(name).build_model(seed=3, init="keras")
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    assert layers
    for layer in layers:
        w = layer.weight
        receptive = w[0, 0].numel()
        fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.abs().max() <= bound
        if w.numel() >= 1000:  # uniform on [-bound, bound]: reaches near the edge, std bound/√3
            assert w.abs().max() > 0.95 * bound
            assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        assert torch.count_nonzero(layer.bias) == 0


def test_torch_init_keeps_pytorch_defaults():
    model = get_task("mnist-mlp").build_model(seed=3, init="torch")
    first = model[1]
    bound = 1 / math.sqrt(784)  # kaiming_uniform(a=√5) and the bias both give U(±1/√fan_in)
    assert first.weight.abs().max() <= bound and first.bias.abs().max() <= bound
    assert torch.count_nonzero(first.bias) > 0


def test_models_are_a_function_of_the_seed_and_leave_global_rng_alone():
    task = get_task("mnist1d-cnn")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = task.build_model(7), task.build_model(7), task.build_model(8)
    assert torch.equal(torch.get_rng_state(), before)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_unknown_names_are_user_errors():
    with pytest.raises(UserError, match=r"unknown task 'nope'; valid names: mnist-mlp, fashion-mlp"):
        get_task("nope")
    assert get_task(" MNIST1D_MLP ").name == "mnist1d-mlp"
    with pytest.raises(UserError, match="unknown init 'xavier'; choose one of torch, keras"):
        build(ResidualMLP, 0, "xavier")
    with pytest.raises(UserError, match="init"):
        apply_init(ResidualMLP(), "he")
    with pytest.raises(UserError, match="unknown loss"):
        Task("t", "digits", ResidualMLP, 1, 1, None, loss="hinge")
