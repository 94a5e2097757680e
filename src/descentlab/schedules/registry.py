"""Build a schedule from a name and keyword arguments (what a CLI flag or a TOML spec holds)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from descentlab.errors import UserError
from descentlab.registry import Registry
from descentlab.schedules.base import Schedule
from descentlab.schedules.cosine import Cosine, CosineRestarts
from descentlab.schedules.cyclic import Cyclic, OneCycle
from descentlab.schedules.decay import Constant, ExponentialDecay, MultiStepDecay, PolynomialDecay, StepDecay
from descentlab.schedules.warmup import InverseSqrt, Warmup, wsd

SCHEDULES: Registry[Callable[..., Schedule]] = Registry("schedule", normalize=str)
"""Registered names. ``onecycle`` and ``cyclic`` give the lr schedule; their ``.momentum`` is the other one."""
for _name, _factory in (("constant", Constant), ("step", StepDecay), ("multistep", MultiStepDecay),
                        ("exponential", ExponentialDecay), ("polynomial", PolynomialDecay), ("cosine", Cosine),
                        ("cosine-restarts", CosineRestarts), ("onecycle", OneCycle), ("cyclic", Cyclic),
                        ("wsd", wsd), ("inverse-sqrt", InverseSqrt)):
    SCHEDULES.register(_name, _factory)

_OWN_WARMUP = ("onecycle", "cyclic", "wsd", "inverse-sqrt")


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule registered as ``name`` with ``kwargs`` (see :data:`SCHEDULES`).

    For the schedules without a warmup of their own, ``warmup_steps`` (and ``warmup_start_factor``) put a
    linear :class:`Warmup` in front: ``make_schedule("cosine", base=1e-3, T_max=900, warmup_steps=100)``.
    """
    factory = SCHEDULES.get(name)  # UserError listing the valid names
    warmup = {}
    if name not in _OWN_WARMUP:
        warmup = {k: kwargs.pop(k) for k in ("warmup_steps", "warmup_start_factor") if k in kwargs}
    allowed = [p for p in inspect.signature(factory).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        extra = ", warmup_steps, warmup_start_factor" if name not in _OWN_WARMUP else ""
        raise UserError(
            f"schedule {name!r}: unknown argument(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}{extra}"
        )
    try:
        schedule = factory(**kwargs)
    except TypeError as err:  # a required argument is missing
        raise UserError(f"schedule {name!r}: {err}; allowed: {', '.join(allowed)}") from None
    if warmup:
        schedule = Warmup(schedule, warmup.get("warmup_steps", 0), warmup.get("warmup_start_factor", 0.0))
    return schedule
