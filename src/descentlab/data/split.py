"""Seeded, stratified splits: every class is represented in proportion in both parts."""

from __future__ import annotations

import numpy as np

from descentlab.errors import UserError


def check_fraction(fraction: float, what: str = "val_fraction") -> float:
    """Return ``fraction`` as a float if it lies in [0, 1); raise :class:`UserError` otherwise."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number in [0, 1), got {fraction!r}") from None
    if not 0.0 <= value < 1.0:
        raise UserError(f"{what} must be in [0, 1), got {fraction!r}")
    return value


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into (keep, held_out) with ``held_out`` about ``fraction`` of each class.

    The held-out size is ``round(fraction * n)`` overall; it is shared among the classes by largest remainder,
    so each class holds out ``floor`` or ``ceil`` of ``fraction * n_class``. Which examples are held out is
    drawn with ``numpy.random.default_rng(seed)``: deterministic for a seed. Both index arrays are sorted, so
    the original order of the examples is kept within each part.
    """
    fraction = check_fraction(fraction, "fraction")
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    ideal = fraction * counts
    take = np.floor(ideal).astype(np.int64)
    short = int(round(fraction * len(labels))) - int(take.sum())
    if short > 0:  # hand the remaining examples to the classes with the largest remainders (ties: lower class)
        order = np.argsort(-(ideal - take), kind="stable")
        take[order[:short]] += 1
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(labels)), held_out, assume_unique=True)
    return keep, held_out.astype(np.int64)
