"""``load_dataset``: a small dataset as in-memory tensors, with a stratified validation split.

Datasets are looked up in :data:`REGISTRY` by name. A :class:`Dataset` is a loader that returns the raw arrays
(:class:`~descentlab.data.sources.Raw`: train and test examples and labels, and where they came from) and the
divisor that maps the stored values to [0, 1]. Adding one is a loader and a ``REGISTRY.register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from descentlab.data import sources
from descentlab.data.split import check_fraction, stratified_split
from descentlab.registry import Registry, dashed


@dataclass(frozen=True, eq=False)
class Splits:
    """Train / validation / test tensors of one dataset, all in memory: ``x`` float32, ``y`` int64.

    ``input_shape`` is the shape of one example (``x_train.shape[1:]``); ``source`` says where the data was
    loaded from. The validation split was carved from the original training data; the test split is the
    dataset's own, untouched.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    source: str

    def __repr__(self) -> str:
        return (
            f"Splits({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, source={self.source!r})"
        )


@dataclass(frozen=True)
class Dataset:
    """How to get one dataset: ``load(data_dir, download=…, **fetch_options)`` returns its raw arrays; ``scale``
    divides the stored values into [0, 1] (None: the source is already standardized)."""

    load: Callable[..., sources.Raw]
    scale: float | None
    description: str = ""


def _idx(name: str) -> Callable[..., sources.Raw]:
    def load(data_dir: str | Path | None, *, download: bool = True, **fetch_options) -> sources.Raw:
        return sources.load_idx_dataset(name, data_dir, download=download, **fetch_options)

    return load


REGISTRY: Registry[Dataset] = Registry("dataset", normalize=dashed, listing="choose one of")
REGISTRY.register("mnist", Dataset(_idx("mnist"), 255.0, "MNIST handwritten digits, 28×28"))
REGISTRY.register("fashion-mnist", Dataset(_idx("fashion-mnist"), 255.0, "Fashion-MNIST clothing, 28×28"))
REGISTRY.register("mnist1d", Dataset(lambda data_dir, **_: sources.load_mnist1d(), None,
                                     "MNIST-1D (Greydanus 2020), 40-long signals"))
REGISTRY.register("digits", Dataset(lambda data_dir, **_: sources.load_digits(), 16.0,
                                    "scikit-learn's 8×8 digits"))
DATASETS = tuple(REGISTRY.names())
"""The built-in datasets (:data:`REGISTRY` holds these and any registered later)."""


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    normalize: bool = True,
    **fetch_options,
) -> Splits:
    """Load dataset ``name`` (one of :data:`REGISTRY`) as tensors.

    Args:
        data_dir: folder to look in first (and to download into); see :func:`sources.candidates` for the
            full search order (``$DESCENTLAB_DATA``, our cache, Keras's cache, torchvision's layout, Debian).
            Only MNIST and Fashion-MNIST use it: MNIST-1D lives in our cache, digits ships with scikit-learn.
        val_fraction: share of the training data held out for validation, in [0, 1); stratified by class and
            drawn with ``seed``, so it is the same for the same seed. ``0`` gives empty validation tensors.
        download: fetch MNIST / Fashion-MNIST from the public mirrors when not found on disk.
        normalize: scale pixel values to [0, 1] (``x / 255`` for MNIST and Fashion-MNIST, ``x / 16`` for
            digits), the Keras convention: no mean/std standardization. ``False`` keeps the stored values
            (0..255, 0..16) as float32. MNIST-1D is standardized by its generator and ignores this flag.
        fetch_options: ``mirrors``, ``checksums``, ``timeout``, ``progress`` for the download.

    Images have shape ``[N, 1, 28, 28]`` (MNIST, Fashion-MNIST) or ``[N, 1, 8, 8]`` (digits); MNIST-1D
    signals ``[N, 40]``. Models flatten for themselves.
    """
    dataset = REGISTRY.get(name)
    key = REGISTRY.normalize(name)
    val_fraction = check_fraction(val_fraction)
    raw = dataset.load(data_dir, download=download, **fetch_options)

    scale = dataset.scale if normalize else None
    train_idx, val_idx = stratified_split(raw.y_train, val_fraction, seed)
    x_train, x_test = _features(raw.x_train, scale), _features(raw.x_test, scale)
    y_train, y_test = torch.from_numpy(raw.y_train.astype(np.int64)), torch.from_numpy(raw.y_test.astype(np.int64))
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return Splits(
        name=key,
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_val=x_train[val_idx],
        y_val=y_train[val_idx],
        x_test=x_test,
        y_test=y_test,
        num_classes=int(max(raw.y_train.max(), raw.y_test.max())) + 1,
        input_shape=tuple(x_train.shape[1:]),
        source=raw.source,
    )


def _features(x: np.ndarray, scale: float | None) -> Tensor:
    """float32 tensor of the examples; images [N, H, W] gain a channel axis -> [N, 1, H, W]."""
    t = torch.from_numpy(x.astype(np.float32))  # a fresh copy: the cached array stays untouched
    if scale is not None:
        t /= scale
    return t.unsqueeze(1) if t.ndim == 3 else t
