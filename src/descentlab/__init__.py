"""descentlab: understand, choose and tune the optimizers that train neural networks.

``descentlab.minimize`` and ``descentlab.Trajectory`` are imported on first use, so that ``import descentlab``
(and the command line's start) does not pay for importing torch before it must.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Trajectory", "minimize"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        value = getattr(importlib.import_module("descentlab.trajectories"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")
