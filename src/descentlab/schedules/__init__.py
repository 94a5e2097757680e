"""Learning-rate (and any-hyperparameter) schedules as pure functions of the step.

Conventions (decided once, for the whole package):

- **The step is the 0-based index of the update about to happen**: ``schedule(0)`` is the value used by the
  first optimizer step, ``schedule(k)`` the value used by the (k+1)-th. This is torch's convention too:
  a torch scheduler applies its value for ``last_epoch = k`` after ``k`` calls to ``.step()``, i.e. just
  before update k. (Optimizer *state* counts completed updates, ``step = 1`` after the first.)
- **A schedule returns the absolute value** of its hyperparameter, not a multiplier. A schedule built with
  peak/initial value 1.0 is a multiplier; :class:`ScheduleAdapter` applies either (``relative=True``).

A schedule is any ``Callable[[int], float]``; the ones here are small frozen dataclasses that validate their
arguments when built (raising :class:`descentlab.errors.UserError`) and round-trip through ``dataclasses.asdict``.
Composites are joins of simple ones: ``Warmup(Cosine(1e-3, T_max=900), warmup_steps=100)``.
:class:`ReduceOnPlateau` is the exception: a small stateful object fed with metrics.

Each schedule that torch also has equals torch's ``get_last_lr()`` step for step (tests/schedules); the
docstrings note where the conventions differ (after the end of a schedule, torch's cosine rises again and
one-cycle raises; ours hold the final value).

Example: minimise ``sum(x**2)`` with SGD, a 10-step warmup and cosine decay, plus a weight-decay schedule:

>>> import torch
>>> from descentlab.schedules import Constant, Cosine, ScheduleAdapter, Warmup
>>> x = torch.nn.Parameter(torch.ones(3))
>>> opt = torch.optim.SGD([x], lr=0.1, momentum=0.9)
>>> lr = Warmup(Cosine(0.1, T_max=90), warmup_steps=10)
>>> sched = ScheduleAdapter(opt, {"lr": lr, "weight_decay": Constant(1e-4)})
>>> for _ in range(100):
...     opt.zero_grad()
...     (x**2).sum().backward()
...     opt.step()
...     sched.step()
>>> float((x.detach() ** 2).sum()) < 1e-3
True
"""

from descentlab.schedules.base import Schedule
from descentlab.schedules.cosine import Cosine, CosineRestarts
from descentlab.schedules.cyclic import Cyclic, OneCycle
from descentlab.schedules.decay import Constant, ExponentialDecay, MultiStepDecay, PolynomialDecay, StepDecay
from descentlab.schedules.plateau import ReduceOnPlateau
from descentlab.schedules.registry import SCHEDULES, make_schedule
from descentlab.schedules.warmup import InverseSqrt, StableDecay, Warmup, wsd

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Cyclic",
    "ExponentialDecay",
    "InverseSqrt",
    "MultiStepDecay",
    "OneCycle",
    "PolynomialDecay",
    "ReduceOnPlateau",
    "Schedule",
    "ScheduleAdapter",
    "StableDecay",
    "StepDecay",
    "Warmup",
    "make_schedule",
    "wsd",
]


def __getattr__(name: str) -> object:
    # ScheduleAdapter wraps a torch optimizer: imported on first use, so that the schedules' names and parameters
    # (what `descentlab list`, --help and shell completion show) are read without starting torch.
    if name == "ScheduleAdapter":
        from descentlab.schedules.adapter import ScheduleAdapter

        return ScheduleAdapter
    raise AttributeError(f"module 'descentlab.schedules' has no attribute {name!r}")
