import hashlib
import os

import numpy as np
import pytest

from descentlab.data import load_dataset
from descentlab.data.download import IDX_FILES, Expected, download_file, fetch_dataset
from descentlab.errors import DataNotFoundError, DownloadError

from .conftest import make_arrays, write_idx_dir


@pytest.fixture
def published(server, tmp_path):
    """The 4 IDX files of a tiny dataset, served at <base>/good/; returns (arrays, checksum table)."""
    arrays = make_arrays()
    table = server.publish("/good", write_idx_dir(tmp_path / "upstream", arrays))
    return arrays, {"mnist": table}


def test_success_files_verified_and_in_place(server, published, tmp_path):
    _, checksums = published
    dest = fetch_dataset("mnist", tmp_path / "cache", mirrors={"mnist": [server.base + "/good/"]}, checksums=checksums)
    assert sorted(os.listdir(dest)) == sorted(IDX_FILES)  # no .part files
    for file in IDX_FILES:
        assert hashlib.sha256((dest / file).read_bytes()).hexdigest() == checksums["mnist"][file].sha256


def test_404_mirror_then_good_one(server, published, tmp_path):
    _, checksums = published
    mirrors = {"mnist": [server.base + "/missing", server.base + "/good"]}
    fetch_dataset("mnist", tmp_path / "cache", mirrors=mirrors, checksums=checksums)
    assert server.requests[:2] == ["/missing/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    assert len(os.listdir(tmp_path / "cache")) == 4


def test_checksum_mismatch_leaves_nothing(server, published, tmp_path):
    _, checksums = published
    wrong = {f: Expected(e.size, "0" * 64) for f, e in checksums["mnist"].items()}
    url = server.base + "/good/train-images-idx3-ubyte.gz"
    with pytest.raises(DownloadError, match=rf"{url}: checksum mismatch: sha256 [0-9a-f]{{64}}, expected 0+"):
        fetch_dataset(
            "mnist", tmp_path / "cache", mirrors={"mnist": [server.base + "/good"]}, checksums={"mnist": wrong}
        )
    assert not (tmp_path / "cache").exists()  # the folder it made for the download is gone again, empty


def test_a_killed_downloads_part_file_is_removed_by_the_next_run(server, tmp_path):
    import subprocess
    import sys

    server.routes["/f.bin"] = b"data"
    folder = tmp_path / "dl"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = folder / f".f.bin.{int(dead.stdout)}.abc123.part"  # the process that wrote it is gone
    live = folder / f".g.bin.{os.getppid()}.abc123.part"  # a download still running in a live process
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    download_file([server.base + "/f.bin"], folder / "f.bin")
    assert sorted(os.listdir(folder)) == [live.name, "f.bin"]


def test_connection_cut_halfway_leaves_nothing(server, tmp_path):
    blob = bytes(range(256)) * 100
    server.routes["/f.bin"] = blob
    server.cut.add("/f.bin")
    expected = Expected(len(blob), hashlib.sha256(blob).hexdigest())
    with pytest.raises(DownloadError, match=r"/f\.bin: incomplete: got 12800 of 25600 bytes"):
        download_file([server.base + "/f.bin"], tmp_path / "dl" / "f.bin", expected=expected)
    assert os.listdir(tmp_path / "dl") == []


def test_every_mirror_named_when_all_fail(server, tmp_path):
    server.routes["/b/f.bin"] = b"short"
    with pytest.raises(DownloadError) as info:
        download_file(
            [server.base + "/a/f.bin", server.base + "/b/f.bin"], tmp_path / "f.bin", expected=Expected(99, "0" * 64)
        )
    message = str(info.value)
    assert "\n" not in message
    assert f"{server.base}/a/f.bin: HTTP 404" in message
    assert f"{server.base}/b/f.bin: incomplete: got 5 of 5 bytes" not in message  # Content-Length was honest
    assert f"{server.base}/b/f.bin: size mismatch: got 5 bytes, expected 99" in message


def test_socket_timeout(server, tmp_path):
    server.routes["/slow"] = b"x"
    server.slow["/slow"] = 1.0
    with pytest.raises(DownloadError, match=r"/slow: timed out after 0\.2 s"):
        download_file([server.base + "/slow"], tmp_path / "dl" / "slow", timeout=0.2)
    assert os.listdir(tmp_path / "dl") == []


def test_unreachable_host(tmp_path):
    with pytest.raises(DownloadError, match="cannot connect"):
        download_file(["http://127.0.0.1:9/x"], tmp_path / "x", timeout=2)


def test_progress_bar_path(server, tmp_path, capsys):
    server.routes["/p"] = b"abc" * 1000
    download_file([server.base + "/p"], tmp_path / "p", progress=True)
    assert (tmp_path / "p").read_bytes() == b"abc" * 1000


def test_load_dataset_downloads_once(server, published, tmp_path):
    arrays, checksums = published
    options = {"mirrors": {"mnist": [server.base + "/good/"]}, "checksums": checksums, "progress": False}
    splits = load_dataset("mnist", val_fraction=0.2, **options)
    assert len(server.requests) == 4
    assert splits.source.endswith("descentlab/mnist")  # downloaded into our cache ($XDG_CACHE_HOME)
    assert splits.x_train.shape == (40, 1, 28, 28) and splits.x_test.shape == (20, 1, 28, 28)
    np.testing.assert_allclose(splits.x_test.numpy()[:, 0], arrays["x_test"] / 255.0, rtol=1e-6)

    from descentlab.data import sources

    sources.clear_caches()  # even without the in-process cache, the files on disk are found
    load_dataset("mnist", **options)
    assert len(server.requests) == 4


def test_download_goes_into_data_dir(server, published, tmp_path):
    _, checksums = published
    splits = load_dataset(
        "mnist", data_dir=tmp_path / "mine", mirrors={"mnist": [server.base + "/good"]}, checksums=checksums
    )
    assert splits.source == str((tmp_path / "mine" / "mnist").resolve())


def test_failed_download_is_data_not_found(server, published):
    _, checksums = published
    with pytest.raises(DataNotFoundError, match="download failed .*HTTP 404") as info:
        load_dataset("mnist", mirrors={"mnist": [server.base + "/nowhere"]}, checksums=checksums)
    assert isinstance(info.value.__cause__, DownloadError)


def test_refuses_files_without_a_checksum(server, published, tmp_path):
    with pytest.raises(DownloadError, match="no checksum known for mnist/train-images-idx3-ubyte.gz"):
        fetch_dataset("mnist", tmp_path / "c", mirrors={"mnist": [server.base + "/good"]}, checksums={})
    assert server.requests == []
