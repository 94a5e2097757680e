"""Flush denormal floats to zero while training, and put the process back as it was afterwards.

Denormals are numbers too small for the normal float range; CPUs handle them in microcode, many times slower.
Adam's second-moment estimates drift into that range, and flushing them made Adam training about 14 % faster on
the 2-core machine of docs/design.md (*Measured facts*) with unchanged results. The setting is process-wide (the
CPU's FTZ/DAZ flags), so it is scoped: code that runs after training (and other libraries' tests) sees IEEE-754
subnormals again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_SMALLEST_NORMAL = 2.2250738585072014e-308


def flushing() -> bool:
    """Whether denormals are being flushed to zero right now."""
    return (torch.tensor(_SMALLEST_NORMAL, dtype=torch.float64) / 2).item() == 0.0


@contextmanager
def flush_denormals() -> Iterator[None]:
    before = flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
