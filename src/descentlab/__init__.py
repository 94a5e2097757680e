"""descentlab: understand, choose and tune the optimizers that train neural networks.

``descentlab.minimize`` and ``descentlab.Trajectory``, and the workbench from Python — ``descentlab.compare``,
``descentlab.sweep``, ``descentlab.lr_find``, ``descentlab.benchmark`` and ``descentlab.load_experiment``
(:mod:`descentlab.api`) — are
imported on first use, so that ``import descentlab`` (and the command line's start) does not pay for importing
torch before it must.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
_LAZY = {"Trajectory": "descentlab.trajectories", "minimize": "descentlab.trajectories",
         "compare": "descentlab.api", "sweep": "descentlab.api", "lr_find": "descentlab.api",
         "benchmark": "descentlab.api", "load_experiment": "descentlab.api"}
__all__ = ["Trajectory", "benchmark", "compare", "load_experiment", "lr_find", "minimize", "sweep"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")
