import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentlab.data.idx import read_idx, write_idx
from descentlab.errors import UserError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_raw_and_gzip(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)), st.booleans())
def test_round_trip_property(tmp_path_factory, array, compress):
    path = write_idx(tmp_path_factory.mktemp("idx") / "x", array, compress=compress)
    np.testing.assert_array_equal(read_idx(path), array)


def test_gzip_recognised_by_content_not_name(tmp_path):
    path = write_idx(tmp_path / "labels", np.arange(10, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), np.arange(10))


def test_mnist_header_layout(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))
    assert path.read_bytes()[:16] == bytes.fromhex("00000803000000030000001c0000001c")


def test_bad_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>Not Found</html>")
    with pytest.raises(UserError, match=r"page\.html: not an IDX file \(magic bytes 3c68746d"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_file_is_a_clear_error(tmp_path, compress):
    data = write_idx(tmp_path / "full", np.ones((4, 5), np.uint8)).read_bytes()[:-3]
    path = tmp_path / "cut"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(UserError, match=r"cut: IDX file truncated: shape \(4, 5\) needs 20 bytes of data, found 17"):
        read_idx(path)


def test_truncated_header_and_broken_gzip(tmp_path):
    (tmp_path / "h").write_bytes(bytes.fromhex("00000803000000"))
    with pytest.raises(UserError, match="truncated IDX header"):
        read_idx(tmp_path / "h")
    full = write_idx(tmp_path / "x.gz", np.ones((100, 10), np.uint8)).read_bytes()
    (tmp_path / "g.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(UserError, match="broken gzip stream"):
        read_idx(tmp_path / "g.gz")


def test_writer_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(UserError, match="cannot write dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def test_huge_declared_dimensions_are_refused_not_overflowed(tmp_path):
    import struct

    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">4I", 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"x")
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)
