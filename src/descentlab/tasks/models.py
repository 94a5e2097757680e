"""The networks of the tasks, and the two weight initializations the presets use.

Every builder is a callable that returns an ``nn.Module`` (the tasks bind its sizes with ``functools.partial``);
:func:`build` turns it into a deterministic function of a seed. The architectures follow their sources:

- :func:`mlp` — ``mlp(784, 128, 10)`` is the Keras/TensorFlow beginner network, Flatten → Dense(128, relu) →
  Dense(10) (tasks ``mnist-mlp``, ``fashion-mlp``); ``mlp(784, 10)`` is multinomial logistic regression, a single
  linear layer (Kingma & Ba 2015, §6.1; ``mnist-logreg``); ``mlp(64, 64, 10)`` the ``digits-mlp`` network.
- :class:`ResidualMLP` / :func:`mnist1d_cnn`: ``MLPBase`` and ``ConvBase`` of the MNIST-1D paper (Greydanus 2020,
  ``github.com/greydanus/mnist1d``, ``notebooks/models.py``). Note that ``MLPBase`` has a residual connection
  around its second layer (``h = h + relu(W₂h)``), and that ``ConvBase``'s first convolution has kernel 5 but
  the next two kernel 3 (all 25 channels, stride 2, padding 1: lengths 40 → 19 → 10 → 5, so 125 features).
- :func:`small_cnn`: two 3×3 convolutions with max-pooling and a dense head, for 28×28 images (``fashion-cnn``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from descentlab.errors import UserError

INITS = ("torch", "keras")


def mlp(*sizes: int) -> nn.Sequential:
    """Flatten, then Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


class ResidualMLP(nn.Module):
    """MNIST-1D's ``MLPBase``: ``h = relu(W₁x)``, ``h = h + relu(W₂h)``, ``logits = W₃h``."""

    def __init__(self, input_size: int = 40, hidden: int = 100, classes: int = 10) -> None:
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x.flatten(1)).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


def mnist1d_cnn(channels: int = 25, length: int = 40, classes: int = 10) -> nn.Sequential:
    """MNIST-1D's ``ConvBase``: three strided Conv1d + ReLU, then a linear classifier."""
    out = length
    for kernel in (5, 3, 3):
        out = (out + 2 - kernel) // 2 + 1
    return nn.Sequential(
        nn.Unflatten(1, (1, length)),
        nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channels * out, classes),
    )


def small_cnn(classes: int = 10) -> nn.Sequential:
    """Conv3×3(32) → ReLU → MaxPool2 → Conv3×3(64) → ReLU → MaxPool2 → Dense(128, relu) → Dense(10), for 28×28."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 28 → 26 → 13
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # 13 → 11 → 5
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
        nn.Linear(128, classes),
    )


def apply_init(model: nn.Module, init: str) -> nn.Module:
    """``"torch"``: leave PyTorch's default (Kaiming-uniform with a = √5, uniform bias).
    ``"keras"``: Glorot-uniform weights, U(±√(6 / (fan_in + fan_out))), and zero biases — the default of Keras's
    ``Dense`` and ``Conv*`` layers (fans include the receptive field for convolutions, as in Keras)."""
    if init not in INITS:
        raise UserError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if init == "keras":
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
    return model


def build(architecture: Callable[[], nn.Module], seed: int, init: str = "torch",
          sample: torch.Tensor | None = None) -> nn.Module:
    """``architecture()`` with its weights drawn from ``seed``; the global RNG state is left as it was.

    ``sample``: a few inputs that materialize lazy layers (``nn.LazyLinear``…), whose shapes and weights exist
    only after a first forward pass: it runs here, in evaluation mode and without gradients (no BatchNorm
    statistics move), so that their weights too are drawn from ``seed`` and exist before an optimizer is made."""
    if init not in INITS:
        raise UserError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = architecture()
        if sample is not None and isinstance(model, nn.Module) and any(
                isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules()):
            was_training = model.training
            with torch.no_grad():
                model.eval()(sample)
            model.train(was_training)
        return apply_init(model, init) if isinstance(model, nn.Module) else model
