"""Small synthetic data and a tiny task for the training-loop tests."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from descentlab.data import Splits
from descentlab.tasks import Task
from descentlab.tasks.models import mlp


def synthetic_splits(n_train: int = 100, n_val: int = 40, n_test: int = 40, features: int = 8, classes: int = 3,
                     seed: int = 0) -> Splits:
    """Gaussian blobs, one per class: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * 2

    def draw(n):
        y = torch.arange(n) % classes
        return centers[y] + torch.randn(n, features, generator=g), y

    (xt, yt), (xv, yv), (xs, ys) = draw(n_train), draw(n_val), draw(n_test)
    return Splits("synthetic", xt, yt, xv, yv, xs, ys, classes, (features,), "synthetic")


@pytest.fixture
def splits() -> Splits:
    return synthetic_splits()


@pytest.fixture
def task() -> Task:
    return Task("synthetic-mlp", "synthetic", partial(mlp, 8, 16, 3), 3, 16, 0.8, "blobs for tests")
