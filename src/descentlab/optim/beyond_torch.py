"""Optimizers that torch.optim does not have (or has only recently): each proven equal to its authors' code."""

from __future__ import annotations

__all__: list[str] = []
