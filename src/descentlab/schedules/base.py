"""The one type every schedule satisfies."""

from __future__ import annotations

from collections.abc import Callable

Schedule = Callable[[int], float]
"""``schedule(step) -> value``: ``step`` is the 0-based index of the update about to happen, the value is the
absolute value of the hyperparameter for that update (a multiplier when the schedule was built with 1.0)."""
