"""Your own network and data as descentlab tasks.

    descentlab compare --task examples/my_task.py:task --optimizers sgd,adam,rmsprop --seeds 3
    descentlab sweep --task examples/my_task.py:task --optimizers sgd,adam --lr 1e-3..1 --points 4
    descentlab compare --task examples/my_task.py:regression --optimizers sgd,adam

A task file is plain Python: make the data (numpy arrays or torch tensors) and a function (or class) that returns
a fresh network, and hand them to ``descentlab.tasks.custom_task``. descentlab calls the function once per run,
under the run's seed, holds 10% of the training data out for validation (unless you pass ``x_val``/``y_val``),
and stores the file's SHA-256 with the results: edit the file and the next run is a new experiment.
"""

import math

import numpy as np
import torch
from torch import nn

from descentlab.tasks import custom_task


def spirals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in the plane, with a little noise: ``n`` points, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    t = rng.uniform(0.25, 1.0, n) * 2 * math.pi
    x = np.stack([t * np.cos(t + math.pi * label), t * np.sin(t + math.pi * label)], axis=1) / (2 * math.pi)
    return (x + rng.normal(0, 0.03, x.shape)).astype(np.float32), label.astype(np.int64)


class SpiralNet(nn.Module):
    """2 → 64 → 64 → 2 with tanh: enough to separate the spirals."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.out = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


x, y = spirals(1200, seed=0)
task = custom_task("spirals", model=SpiralNet, x_train=x[:1000], y_train=y[:1000], x_test=x[1000:], y_test=y[1000:],
                   target=0.9, epochs=15, batch_size=32)  # target: time to 90 % validation accuracy

# Regression: float targets take the mean squared error (loss="mse"); the loss is the metric, so the records'
# accuracies are empty and the target is a validation loss to reach.
rng = np.random.default_rng(1)
u = rng.uniform(-3, 3, (600, 1)).astype(np.float32)
v = (np.sin(u) + rng.normal(0, 0.1, u.shape)).astype(np.float32)
regression = custom_task(
    "sine", model=lambda: nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1)),
    x_train=u[:500], y_train=v[:500], x_test=u[500:], y_test=v[500:], loss="mse", target=0.05,
    epochs=15, batch_size=32,
)
