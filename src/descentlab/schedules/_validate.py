"""Argument checks shared by the schedules: each raises a one-line :class:`UserError`."""

from __future__ import annotations

import math
from collections.abc import Iterable

from descentlab.errors import UserError


def check_int(owner: str, name: str, value: object, minimum: int = 0) -> int:
    """Return ``value`` if it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_float(
    owner: str,
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``float(value)`` if it is a finite real number in the given interval."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise UserError(f"{owner}: {name} must be a finite number in {left}{low}, {high}{right}, got {value!r}")
    return float(value)


def check_choice(owner: str, name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise UserError(f"{owner}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value  # type: ignore[return-value]


def check_step(owner: str, step: int) -> int:
    """Steps are 0-based update indices; a negative one is a caller's bug."""
    if step < 0:
        raise UserError(f"{owner}: step must be >= 0 (0-based index of the next update), got {step!r}")
    return step
