"""A dataset is a loader and a scale in the registry: registering one is all ``load_dataset`` needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab.data import load_dataset
from descentlab.data.datasets import REGISTRY, Dataset
from descentlab.data.sources import Raw


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 10, size=(60, 3, 3)).astype(np.uint8), np.arange(60) % 3
    seen = []

    def load(data_dir, **options):
        seen.append((data_dir, options))
        return Raw(x[:50], y[:50], x[50:], y[50:], source="generated")

    REGISTRY.register("toy-set", Dataset(load, 10.0, "3×3 test images"), source="test")
    yield x, y, seen
    REGISTRY.unregister("toy-set")


def test_a_registered_dataset_loads_scaled_split_and_shaped(toy):
    x, y, seen = toy
    splits = load_dataset("TOY_SET", data_dir="/nowhere", val_fraction=0.2, seed=1)
    assert seen == [("/nowhere", {"download": True})]
    assert splits.name == "toy-set" and splits.source == "generated" and splits.num_classes == 3
    assert splits.input_shape == (1, 3, 3) and len(splits.y_train) == 40 and len(splits.y_val) == 10
    torch.testing.assert_close(splits.x_test, torch.from_numpy(x[50:].astype(np.float32) / 10.0).unsqueeze(1))
    assert torch.equal(splits.y_test, torch.from_numpy(y[50:]))
    raw = load_dataset("toy-set", val_fraction=0.0, normalize=False)
    assert raw.x_train.max().item() == x[:50].max()
