"""The fingerprint of the data an experiment trained on: shapes, dtypes and a content hash of its splits.

It is part of an experiment's identity (``spec["data"]``): the same command over other files is another
experiment, never a "resume" of the first one showing the first data's numbers.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


def fingerprint(splits: Any) -> dict[str, Any]:
    """``{"dataset", "sha256", "shapes", "dtypes"}`` of a :class:`~descentlab.data.datasets.Splits`.

    ``sha256`` (first 16 hex digits) covers, split by split and ``x`` before ``y``, each tensor's dtype, shape
    and bytes (C order): equal exactly when the tensors the trainer sees are equal.
    """
    digest = hashlib.sha256()
    shapes, dtypes = {}, {}
    for split in SPLITS:
        for axis in ("x", "y"):
            array = np.ascontiguousarray(getattr(splits, f"{axis}_{split}").detach().cpu().numpy())
            header = f"{axis}_{split}:{array.dtype.str}:{','.join(map(str, array.shape))};"
            digest.update(header.encode())
            digest.update(array.tobytes())
            shapes[f"{axis}_{split}"] = list(array.shape)
            dtypes[axis] = str(array.dtype)
    return {"dataset": str(splits.name), "sha256": digest.hexdigest()[:16], "shapes": shapes, "dtypes": dtypes}


def describe(data: Any) -> str:
    """One line for a report: ``digits 1293/144/360 examples, float32/int64, sha256 0123…``."""
    if not isinstance(data, dict) or "sha256" not in data:
        return "not recorded"
    shapes = data.get("shapes", {})
    counts = "/".join(str((shapes.get(f"x_{s}") or ["?"])[0]) for s in SPLITS)
    dtypes = data.get("dtypes", {})
    return (f"{data.get('dataset', '?')}: {counts} train/val/test examples, {dtypes.get('x', '?')}/"
            f"{dtypes.get('y', '?')}, sha256 {data['sha256']}")
