"""Where each dataset comes from: find it on disk (or download / generate it) and read the raw arrays.

Every loader returns a :class:`Raw` record of read-only numpy arrays in the dataset's own units (uint8 pixels
for the images) plus a string saying where they came from. Reading is cached in-process with ``lru_cache``
keyed on the resolved file location, so a second load of the same files costs only a dictionary lookup.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from descentlab.data.download import IDX_FILES, fetch_dataset
from descentlab.data.idx import read_idx
from descentlab.data.split import stratified_split
from descentlab.errors import DataNotFoundError, DownloadError, UserError
from descentlab.locations import user_dir

log = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
_TORCHVISION_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}

MNIST1D_SEED = 42  # mnist1d's default (get_dataset_args().seed): the dataset of the paper
DIGITS_TEST_FRACTION, DIGITS_TEST_SEED = 0.2, 0


@dataclass(frozen=True, eq=False)
class Raw:
    """Arrays as stored by the source (read-only) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def __post_init__(self):
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            a.setflags(write=False)


def cache_dir() -> Path:
    """Our own cache: the platform's cache folder (:func:`descentlab.locations.user_dir`), e.g.
    ``$XDG_CACHE_HOME/descentlab`` or ``~/.cache/descentlab`` on Linux."""
    return user_dir("cache")


def _keras_datasets_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def _env_data_dir() -> Path | None:
    value = os.environ.get("DESCENTLAB_DATA")
    return Path(value).expanduser() if value else None


def candidates(name: str, data_dir: str | Path | None) -> list[Path]:
    """Places to look for MNIST / Fashion-MNIST, in order: directories holding the 4 IDX files, or a Keras npz.

    ``data_dir`` itself is accepted as holding the files (the caller named it for this dataset); under
    ``$DESCENTLAB_DATA`` only the per-dataset sub-folders are, since that folder is shared by all datasets.
    """
    torch_name = _TORCHVISION_NAMES[name]
    places: list[Path] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        places += [root, root / name, root / torch_name / "raw"]
        if name == "mnist":
            places.append(root / "mnist.npz")
    env = _env_data_dir()
    if env is not None:
        places += [env / name, env / torch_name / "raw"]
        if name == "mnist":
            places.append(env / "mnist.npz")
    places.append(cache_dir() / name)
    keras = _keras_datasets_dir()
    places.append(keras / "mnist.npz" if name == "mnist" else keras / "fashion-mnist")
    if name == "fashion-mnist":
        places.append(DEBIAN_FASHION_MNIST)
    return places


def _idx_paths(directory: Path) -> tuple[Path, ...] | None:
    """The 4 IDX files in ``directory`` (gzipped or not), or None if any is missing."""
    found = []
    for file in IDX_FILES:
        for path in (directory / file, directory / file.removesuffix(".gz")):
            if path.is_file():
                found.append(path)
                break
        else:
            return None
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _read_idx_set(paths: tuple[Path, ...]) -> Raw:
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    return _checked(Raw(x_train, y_train, x_test, y_test, source=str(paths[0].parent)))


@functools.lru_cache(maxsize=4)
def _read_npz(path: Path) -> Raw:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (KeyError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a Keras MNIST npz with x_train, y_train, x_test, y_test ({e})") from e
    return _checked(Raw(*arrays, source=str(path)))


def _checked(raw: Raw) -> Raw:
    """MNIST-like data as the tasks expect it: [N, 28, 28] images, [N] integer labels 0..9, N ≥ 1."""
    for x, y, split in ((raw.x_train, raw.y_train, "train"), (raw.x_test, raw.y_test, "test")):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
            raise UserError(
                f"{raw.source}: {split} images {x.shape} and labels {y.shape} do not match; "
                "expected [N, 28, 28] and [N] with N ≥ 1"
            )
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise UserError(f"{raw.source}: {split} labels must be integers 0..9; found {y.dtype} values "
                            f"{y.min()}..{y.max()}")
    return raw


def load_idx_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True, **fetch_options) -> Raw:
    """MNIST or Fashion-MNIST from the first place in :func:`candidates` that has it, else downloaded.

    Downloads go to ``data_dir/<name>``, else ``$DESCENTLAB_DATA/<name>``, else our cache. ``fetch_options``
    (mirrors, checksums, timeout, progress) go to :func:`~descentlab.data.download.fetch_dataset`.
    """
    places = candidates(name, data_dir)
    for place in places:
        if place.suffix == ".npz":
            if place.is_file():
                return _read_npz(place.resolve())
        elif (paths := _idx_paths(place)) is not None:
            return _read_idx_set(tuple(p.resolve() for p in paths))
    looked = ", ".join(map(str, places))
    how = "pass data_dir (--data-dir DIR) or set DESCENTLAB_DATA to a folder with the 4 IDX files"
    if name == "fashion-mnist":
        how += ", or `apt-get install dataset-fashion-mnist`"
    if not download:
        raise DataNotFoundError(f"{name} not found (download disabled); looked in {looked}; {how}")
    root = Path(data_dir).expanduser() if data_dir is not None else _env_data_dir() or cache_dir()
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file, not a folder; give --data-dir a folder (or none)")
    try:
        dest = fetch_dataset(name, root / name, **fetch_options)
    except DownloadError as e:
        raise DataNotFoundError(f"{name} not found in {looked}, and the download failed ({e}); {how}") from e
    return _read_idx_set(tuple(p.resolve() for p in _idx_paths(dest)))


def mnist1d_path() -> Path:
    return cache_dir() / "mnist1d" / f"mnist1d-seed{MNIST1D_SEED}.npz"


MNIST1D_SHAPES = {"x_train": (4000, 40), "y_train": (4000,), "x_test": (1000, 40), "y_test": (1000,)}


@functools.lru_cache(maxsize=2)
def _read_mnist1d(path: Path) -> Raw:
    """The cached MNIST-1D, verified: the file's SHA-256 matches the one written beside it, and the arrays have
    the paper's shapes, float32 signals and int64 labels 0..9. Anything else raises ValueError."""
    sidecar = path.with_name(path.name + ".sha256")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not sidecar.is_file() or sidecar.read_text().strip() != digest:
        raise ValueError("checksum missing or wrong")
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in MNIST1D_SHAPES}
    for key, shape in MNIST1D_SHAPES.items():
        want = np.float32 if key.startswith("x") else np.int64
        if arrays[key].shape != shape or arrays[key].dtype != want:
            raise ValueError(f"{key} is {arrays[key].dtype} {arrays[key].shape}")
    if not all(np.isfinite(arrays[k]).all() for k in ("x_train", "x_test")) or not all(
            ((arrays[k] >= 0) & (arrays[k] < 10)).all() for k in ("y_train", "y_test")):
        raise ValueError("values out of range")
    return Raw(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=str(path))


def load_mnist1d() -> Raw:
    """MNIST-1D with the paper's defaults (4000 train / 1000 test, length 40), generated locally, never
    downloaded, and saved as an npz in our cache (with its SHA-256 beside it) so later loads are instant. A
    cache file that is damaged (fails :func:`_read_mnist1d`'s checks) is generated again."""
    path = mnist1d_path()
    if path.is_file():
        try:
            return _read_mnist1d(path.resolve())
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # damaged: made again below
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # fails fast, before the seconds of generation
        log.info("generating MNIST-1D once, into %s", path)
        _save_npz_atomic(path, _generate_mnist1d())
    except OSError as e:
        raise UserError(f"cannot write the MNIST-1D cache {path} ({e.strerror or e}); set XDG_CACHE_HOME to a "
                        "writable folder") from None
    return _read_mnist1d(path.resolve())


def _generate_mnist1d(num_samples: int = 5000) -> dict[str, np.ndarray]:
    """Generate MNIST-1D; ``num_samples`` other than the paper's 5000 only to test quickly."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()  # num_samples 5000, train_split 0.8, final_seq_length 40, seed 42
    args.num_samples, args.seed = num_samples, MNIST1D_SEED
    # make_dataset seeds the global `random` and `numpy.random` generators: put them back afterwards.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)  # local generation; mnist1d's get_dataset() would download a pickle
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x_train": data["x"].astype(np.float32),
        "y_train": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int64),
    }


def _save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``path`` and ``path.sha256`` (its checksum) by renaming finished files into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        sidecar = path.with_name(path.name + ".sha256")
        sidecar_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.part")
        sidecar_tmp.write_text(digest + "\n")
        os.replace(tmp, path)
        os.replace(sidecar_tmp, sidecar)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=1)
def load_digits() -> Raw:
    """scikit-learn's bundled 8x8 digits (values 0..16), with a stratified 20% test split (seed 0)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.data.reshape(-1, 8, 8).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    return Raw(x[train], y[train], x[test], y[test], source="scikit-learn (sklearn.datasets.load_digits)")


def clear_caches() -> None:
    """Forget every dataset read in this process (the files on disk stay)."""
    for fn in (_read_idx_set, _read_npz, _read_mnist1d, load_digits):
        fn.cache_clear()
