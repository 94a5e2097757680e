"""Drop-in ``torch.optim.Optimizer`` classes, one per update rule in :mod:`descentlab.rules`.

>>> from descentlab import optim
>>> opt = optim.Adam(model.parameters(), lr=1e-3)      # as torch.optim.Adam
>>> opt = optim.create("nesterov", model.parameters(), lr=0.01)   # by registry name
"""

from __future__ import annotations

from descentlab.optim.base import RuleOptimizer, make_optimizer_class
from descentlab.optim.beyond_torch import *  # noqa: F403
from descentlab.optim.beyond_torch import __all__ as _beyond
from descentlab.optim.registry import REGISTRY, Entry, create, get, names, register
from descentlab.optim.torch_family import *  # noqa: F403
from descentlab.optim.torch_family import __all__ as _torch_family

__all__ = [*_torch_family, *_beyond, "RuleOptimizer", "make_optimizer_class", "Entry", "create", "get", "names",
           "register", "REGISTRY"]
