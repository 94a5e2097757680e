from pathlib import Path

import numpy as np
import pytest
import torch

from descentlab.data import DATASETS, load_dataset, sources
from descentlab.errors import DataNotFoundError, UserError

from .conftest import make_arrays, write_idx_dir


def save_keras_npz(path: Path, arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def test_keras_npz_in_home(isolated):
    arrays = make_arrays(n_train=30)
    save_keras_npz(isolated / ".keras" / "datasets" / "mnist.npz", arrays)
    splits = load_dataset("mnist", download=False, val_fraction=0)
    assert splits.source == str((isolated / ".keras/datasets/mnist.npz").resolve())
    assert splits.x_train.shape == (30, 1, 28, 28) and splits.x_val.shape == (0, 1, 28, 28)
    assert splits.y_val.shape == (0,) and splits.y_val.dtype == torch.int64
    np.testing.assert_array_equal(splits.y_train.numpy(), arrays["y_train"])


def test_keras_fashion_folder(isolated):
    write_idx_dir(isolated / ".keras" / "datasets" / "fashion-mnist", make_arrays())
    assert load_dataset("fashion-mnist", download=False).source.endswith(".keras/datasets/fashion-mnist")


def test_torchvision_layout_with_extracted_files(tmp_path):
    write_idx_dir(tmp_path / "root" / "FashionMNIST" / "raw", make_arrays(), gz=False)
    splits = load_dataset("fashion_mnist", data_dir=tmp_path / "root", download=False)
    assert splits.name == "fashion-mnist" and splits.source.endswith("FashionMNIST/raw")


def test_descentlab_data_env(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "shared" / "mnist", make_arrays())
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "shared"))
    assert load_dataset("mnist", download=False).source == str((tmp_path / "shared" / "mnist").resolve())


def test_debian_package_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", write_idx_dir(tmp_path / "deb", make_arrays()))
    assert load_dataset("fashion-mnist", download=False).source == str(tmp_path / "deb")


def test_lookup_order_data_dir_then_env_then_cache_then_keras(tmp_path, isolated, monkeypatch):
    save_keras_npz(isolated / ".keras" / "datasets" / "mnist.npz", make_arrays(n_train=10))
    write_idx_dir(tmp_path / "cache" / "descentlab" / "mnist", make_arrays(n_train=20))
    assert len(load_dataset("mnist", download=False, val_fraction=0).y_train) == 20
    write_idx_dir(tmp_path / "env" / "MNIST" / "raw", make_arrays(n_train=30))
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "env"))
    assert len(load_dataset("mnist", download=False, val_fraction=0).y_train) == 30
    write_idx_dir(tmp_path / "arg", make_arrays(n_train=40))
    assert len(load_dataset("mnist", data_dir=tmp_path / "arg", download=False, val_fraction=0).y_train) == 40


def test_missing_offline_says_where_it_looked(tmp_path, isolated):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "d", download=False)
    message = str(info.value)
    assert "\n" not in message and "download disabled" in message
    for place in [
        tmp_path / "d",
        tmp_path / "d" / "FashionMNIST" / "raw",
        tmp_path / "cache/descentlab/fashion-mnist",
        isolated / ".keras/datasets/fashion-mnist",
        tmp_path / "no-debian",
    ]:
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message


def test_partial_folder_is_not_a_hit(tmp_path):
    d = write_idx_dir(tmp_path / "d", make_arrays())
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError):
        load_dataset("mnist", data_dir=d, download=False)


def test_normalize_and_types(tmp_path):
    arrays = make_arrays()
    write_idx_dir(tmp_path, arrays)
    scaled = load_dataset("mnist", data_dir=tmp_path, download=False)
    raw = load_dataset("mnist", data_dir=tmp_path, download=False, normalize=False)
    assert scaled.x_train.dtype == torch.float32 and scaled.y_train.dtype == torch.int64
    assert scaled.x_train.min() >= 0.0 and scaled.x_train.max() <= 1.0
    assert torch.allclose(raw.x_test / 255.0, scaled.x_test)
    assert raw.x_test.max() == float(arrays["x_test"].max())
    assert scaled.num_classes == 10 and scaled.input_shape == (1, 28, 28)


def test_val_split_is_stratified_seeded_and_from_train_only(tmp_path):
    arrays = make_arrays(n_train=200)
    write_idx_dir(tmp_path, arrays)
    a = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.25, seed=3)
    b = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.25, seed=3)
    c = load_dataset("mnist", data_dir=tmp_path, download=False, val_fraction=0.25, seed=4)
    assert len(a.y_val) == 50 and len(a.y_train) == 150 and len(a.y_test) == 20
    assert torch.equal(a.y_val.bincount(), torch.full((10,), 5))
    assert torch.equal(a.x_val, b.x_val) and not torch.equal(a.x_val, c.x_val)
    together = torch.cat([a.x_train, a.x_val]).flatten(1)
    original = torch.from_numpy(arrays["x_train"]).flatten(1).float() / 255.0
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, original.tolist()))
    assert torch.allclose(a.x_test[:, 0], torch.from_numpy(arrays["x_test"]).float() / 255.0)


def test_repeated_loads_hit_the_in_process_cache(tmp_path, monkeypatch):
    write_idx_dir(tmp_path, make_arrays())
    calls = []
    real = sources.read_idx
    monkeypatch.setattr(sources, "read_idx", lambda p: calls.append(p) or real(p))
    load_dataset("mnist", data_dir=tmp_path, download=False)
    load_dataset("mnist", data_dir=tmp_path, download=False, seed=1)
    assert len(calls) == 4


def test_cached_arrays_are_not_modified_by_users(tmp_path):
    write_idx_dir(tmp_path, make_arrays())
    first = load_dataset("mnist", data_dir=tmp_path, download=False)
    first.x_test.mul_(0)
    assert load_dataset("mnist", data_dir=tmp_path, download=False).x_test.max() > 0


@pytest.mark.parametrize("bad", [-0.5, 1.0, 2])
def test_bad_val_fraction(bad):
    with pytest.raises(UserError, match=r"val_fraction must be in \[0, 1\)"):
        load_dataset("digits", val_fraction=bad)


def test_unknown_name_lists_the_choices():
    with pytest.raises(UserError, match="unknown dataset 'cifar'; choose one of mnist, fashion-mnist"):
        load_dataset("cifar")
    assert DATASETS == ("mnist", "fashion-mnist", "mnist1d", "digits")
    with pytest.raises(UserError, match=r"^unknown dataset 'Fashion_MNST' \(did you mean 'fashion-mnist'\?\); "
                                        "choose one of mnist, "):
        load_dataset("Fashion_MNST")  # compared as the registry spells names: lower case, _ read as -


def test_repr_is_short(tmp_path):
    write_idx_dir(tmp_path, make_arrays())
    text = repr(load_dataset("mnist", data_dir=tmp_path, download=False))
    assert text.startswith("Splits('mnist', train=45, val=5, test=20") and "tensor" not in text


@pytest.mark.parametrize("bad, message", [
    ({"x_train": np.zeros((50, 14, 14), np.uint8)}, r"expected \[N, 28, 28\]"),
    ({"y_train": np.full(50, 12, np.uint8)}, r"labels must be integers 0\.\.9; found uint8 values 12\.\.12"),
])
def test_idx_data_of_the_wrong_shape_or_labels_is_refused_at_load(tmp_path, bad, message):
    write_idx_dir(tmp_path / "data", {**make_arrays(), **bad})
    with pytest.raises(UserError, match=message):
        load_dataset("mnist", data_dir=tmp_path / "data", download=False)


def test_a_damaged_mnist1d_cache_is_generated_again(mnist1d_cache, tmp_path, monkeypatch):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(mnist1d_cache, cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    good = load_dataset("mnist1d").x_train.clone()
    path = sources.mnist1d_path()
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte inside the arrays: still a readable zip, wrong data
    path.write_bytes(bytes(damaged))
    sources.clear_caches()
    calls = []
    real = sources._generate_mnist1d
    monkeypatch.setattr(sources, "_generate_mnist1d", lambda: calls.append(1) or real())
    assert torch.equal(load_dataset("mnist1d").x_train, good) and calls == [1]
    sources.clear_caches()
    assert torch.equal(load_dataset("mnist1d").x_train, good) and calls == [1]  # and then read, not made again


def test_a_data_dir_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        load_dataset("mnist", data_dir=tmp_path / "file")
