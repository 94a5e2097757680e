"""The datasets that need no download: MNIST-1D (generated), digits (bundled), and Fashion-MNIST from Debian."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from descentlab.data import load_dataset, sources


@pytest.fixture
def mnist1d(mnist1d_cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(mnist1d_cache))
    return mnist1d_cache


def test_mnist1d_shapes(mnist1d):
    s = load_dataset("mnist1d")
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (3600, 400, 1000)
    assert s.x_train.shape == (3600, 40) and s.input_shape == (40,) and s.num_classes == 10
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    per_class = torch.cat([s.y_train, s.y_val]).bincount()
    assert (s.y_val.bincount() - 0.1 * per_class).abs().max() < 1


def test_mnist1d_second_load_comes_from_the_npz(mnist1d, monkeypatch):
    def no_generation():
        raise AssertionError("MNIST-1D was generated again instead of read from the cache")

    monkeypatch.setattr(sources, "_generate_mnist1d", no_generation)
    s = load_dataset("mnist1d")
    assert s.source == str(mnist1d / "descentlab" / "mnist1d" / "mnist1d-seed42.npz")
    folder = mnist1d / "descentlab" / "mnist1d"
    assert sorted(p.name for p in folder.iterdir()) == ["mnist1d-seed42.npz", "mnist1d-seed42.npz.sha256"]


def test_mnist1d_generation_is_deterministic_and_leaves_global_rngs_alone():
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    a = sources._generate_mnist1d(num_samples=200)  # small: the full 5000 is generated once per session
    assert (random.random(), np.random.random()) == expected
    b = sources._generate_mnist1d(num_samples=200)
    assert a["x_train"].shape == (160, 40) and a["x_test"].shape == (40, 40)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_digits():
    s = load_dataset("digits", val_fraction=0.1)
    assert s.input_shape == (1, 8, 8) and s.num_classes == 10
    assert len(s.y_test) == 359 and len(s.y_train) + len(s.y_val) == 1797 - 359
    assert s.x_train.min() >= 0.0 and s.x_train.max() == 1.0
    assert load_dataset("digits", normalize=False).x_train.max() == 16.0


@pytest.mark.skipif(
    not sources.DEBIAN_FASHION_MNIST.is_dir(),
    reason=f"{sources.DEBIAN_FASHION_MNIST} missing (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", Path("/usr/share/datasets/fashion-mnist"))
    s = load_dataset("fashion-mnist", download=False, val_fraction=0.1)
    assert s.source == "/usr/share/datasets/fashion-mnist"
    assert (len(s.y_train) + len(s.y_val), len(s.y_test)) == (60000, 10000)
    assert s.x_test.shape == (10000, 1, 28, 28) and s.num_classes == 10
    assert torch.equal(s.y_val.bincount(), torch.full((10,), 600))
    assert s.x_train.min() == 0.0 and s.x_train.max() == 1.0
