"""Writing a file whole or not at all: the one helper every output file of descentlab goes through.

The data is written beside the target under a temporary name (hidden, unique to the process, ending ``.part``)
and renamed onto it with :func:`os.replace` only once complete. A rename within one folder is atomic, so a
crash, a Ctrl-C or a full disk in the middle of writing leaves the old file (or none) where it was, never half a
file, and the temporary file is removed on the way out (a SIGKILL alone can leave it behind, never the target).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from descentlab.errors import UserError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends normally, removed
    when it raises (anything, KeyboardInterrupt included). Errors propagate as they are."""
    path = Path(path)
    # the name's first 100 characters: a name near the file system's 255 would not leave room for the rest
    part = path.with_name(f".{path.name[:100]}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    try:
        yield part
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, what: str | None = None) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (:func:`atomic_path`) and return ``path``.
    A file that cannot be written is one :class:`UserError` line naming it (``what``, e.g. ``--json``, first)."""
    path = Path(path)
    try:
        with atomic_path(path) as part:
            part.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    except OSError as e:
        raise UserError(f"cannot write {what + ' ' if what else ''}{path}: {e.strerror or e}") from None
    return path
