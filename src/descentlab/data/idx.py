"""Read and write the IDX format of MNIST-like datasets (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 sizes,
then the values in C order, big-endian. Files may be gzipped; we recognise gzip by its first two bytes, not by
the file name, so ``MNIST/raw`` folders with extracted files work too.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from descentlab.errors import UserError

# IDX dtype code -> big-endian numpy dtype.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise UserError(f"{path}: broken gzip stream ({e}); delete the file and fetch it again") from e


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian numpy array of its declared shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] not in _DTYPES:
        raise UserError(
            f"{path}: not an IDX file (magic bytes {data[:4].hex() or 'none'}, expected 0000<type><ndim> "
            f"with type in {sorted(hex(c) for c in _DTYPES)}); delete it and fetch it again"
        )
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header ({len(data)} of {header} bytes); fetch it again")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: huge declared sizes cannot overflow
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise UserError(
            f"{path}: IDX file {what}: shape {shape} needs {expected} bytes of data, found {got}; fetch it again"[:300]
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzipped when ``compress`` is true (default: when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise UserError(f"cannot write dtype {array.dtype} as IDX; allowed: {sorted(map(str, _CODES))}")
    if array.ndim > 255:
        raise UserError(f"cannot write an array with {array.ndim} dimensions as IDX (at most 255)")
    blob = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        blob = gzip.compress(blob, mtime=0)
    path.write_bytes(blob)
    return path
