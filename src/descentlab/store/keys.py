"""Canonical JSON and trial keys: the identity of a configuration.

A trial's identity is a hash of its resolved configuration (docs/design.md, principle 5): that is what makes resume,
caching and de-duplication work. The hash is only as good as the canonical form it is taken of, so here it is
spelled out once:

- dicts are written with their keys sorted, and keys must be strings (``{1: …}`` and ``{"1": …}`` would
  otherwise collide);
- tuples are written as lists, numpy scalars as the Python number they hold (``.item()``);
- floats are written as ``repr`` writes them (the shortest text that reads back as the same double), so
  ``0.1``, ``1e-1`` and ``float("0.1")`` are one value, while ``0.1 + 0.2`` and ``0.3`` are two;
- ints, floats and bools stay distinct: ``1``, ``1.0`` and ``true`` are three different values;
- JSON has no NaN or infinity, so non-finite floats are written as the strings ``"nan"``, ``"inf"`` and
  ``"-inf"``, and :func:`from_json` reads those three strings back as floats. The price: a *string* value
  ``"inf"`` comes back as a float. Nothing in a descentlab config or metric is such a string.
- no whitespace, UTF-8.

``trial_key(config)`` is the first 16 hex digits (64 bits) of the SHA-256 of that text. The same canonical text is
what the store writes, so ``trial_key`` of a config read back from the store equals the key it was stored under.
Changing anything in this module changes every key and breaks resume of existing experiments: the fixed
test vector in ``tests/store/test_keys.py`` guards it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from descentlab.errors import UserError
from descentlab.jsonable import to_json_data

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def to_plain(value: Any) -> Any:
    """``value`` as plain JSON data: dicts with str keys, lists, str, int, finite float, bool or None, and the
    non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (:func:`descentlab.jsonable.to_json_data`)."""
    return to_json_data(value, non_finite="text")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (see the module docstring): equal values give equal text."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _restore(value: Any) -> Any:
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


def from_json(text: str | None) -> Any:
    """Read text written by :func:`canonical_json`, with ``"nan"``, ``"inf"``, ``"-inf"`` back as floats."""
    if text is None:
        return None
    try:
        return _restore(json.loads(text))
    except (json.JSONDecodeError, TypeError) as e:
        shown = str(text)[:40] + ("…" if len(str(text)) > 40 else "")
        raise UserError(f"the results store holds malformed JSON {shown!r} ({e}); the store was damaged or edited "
                        "by hand: restore it from a copy") from None


def trial_key(config: Mapping[str, Any]) -> str:
    """The identity of a configuration: the first 16 hex digits of SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:16]
