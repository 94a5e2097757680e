"""Python values as plain JSON data: the one place that decides how NaN, infinity, tuples, numpy and torch scalars
and dtypes become JSON. The store (its canonical form and trial keys), run configs, ``--json`` files and the
report's exports all call :func:`to_json_data`; they differ only in what a non-finite float becomes.

Standard library only, like the store that relies on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

NonFinite = Literal["text", "null", "keep"]
_TEXT = {True: "inf", False: "-inf"}


def to_json_data(value: Any, *, non_finite: NonFinite = "null",
                 default: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as dicts with str keys, lists, str, int, float, bool and None.

    - tuples become lists; a float subclass (``np.float64``) a plain float; a 0-d numpy array or tensor, or a
      numpy scalar, the Python number it holds (``.item()``); a ``torch.dtype`` its name (``"torch.float32"``);
    - a non-finite float becomes ``None`` (``non_finite="null"``: what a user's JSON file should hold), the text
      ``"nan"`` / ``"inf"`` / ``"-inf"`` (``"text"``: what the store writes and reads back as floats), or stays a
      float (``"keep"``);
    - a dict key that is not a string is refused (``{1: …}`` and ``{"1": …}`` would otherwise collide);
    - anything else goes through ``default`` when given, else is refused with a TypeError that names it.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value) or non_finite == "keep":
            return float(value)
        if non_finite == "null":
            return None
        return "nan" if math.isnan(value) else _TEXT[value > 0]
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"config keys must be strings, got {key!r} ({type(key).__name__})")
            plain[key] = to_json_data(item, non_finite=non_finite, default=default)
        return plain
    if isinstance(value, (list, tuple)):
        return [to_json_data(item, non_finite=non_finite, default=default) for item in value]
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return to_json_data(item(), non_finite=non_finite, default=default)
    if type(value).__name__ == "dtype" and type(value).__module__ == "torch":  # e.g. Muon's ns_dtype
        return str(value)
    if default is not None:
        return to_json_data(default(value), non_finite=non_finite)
    raise TypeError(f"cannot store {value!r} ({type(value).__name__}) as JSON: use str, number, bool, list or dict")
