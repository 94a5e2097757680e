"""Per-epoch checkpoints, written atomically (temporary file + ``os.replace``) so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from descentlab.errors import UserError

FORMAT = 1


def save(path: str | Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one; it must have been written for the same ``config``."""
    path = Path(path)
    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} has format {payload.get('format')!r}; this version reads {FORMAT}")
    if payload["config"] != config:
        raise UserError(f"checkpoint {path} belongs to another configuration; delete it or pick another path")
    return payload
