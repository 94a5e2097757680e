"""``load_dataset``: a small dataset as in-memory tensors, with a stratified validation split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from descentlab.data import sources
from descentlab.data.split import check_fraction, stratified_split
from descentlab.errors import UserError

DATASETS = ("mnist", "fashion-mnist", "mnist1d", "digits")


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


# name -> (divisor that maps the stored values to [0, 1], or None if the source is already standardized)
_SCALE = {"mnist": 255.0, "fashion-mnist": 255.0, "mnist1d": None, "digits": 16.0}


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
    """Load dataset ``name`` (one of :data:`DATASETS`) as tensors.

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
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    val_fraction = check_fraction(val_fraction)
    if key == "mnist1d":
        raw = sources.load_mnist1d()
    elif key == "digits":
        raw = sources.load_digits()
    else:
        raw = sources.load_idx_dataset(key, data_dir, download=download, **fetch_options)

    scale = _SCALE[key] if normalize else None
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
