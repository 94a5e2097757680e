"""Reduce a value when a metric stops improving (torch ``ReduceLROnPlateau``) — the one stateful schedule."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from descentlab.schedules._validate import check_choice, check_float, check_int


@dataclass
class ReduceOnPlateau:
    r"""Multiply ``value`` by ``factor`` after more than ``patience`` calls to :meth:`update` without improvement.

    A metric ``a`` improves on the best so far ``b`` if (mode ``min``) :math:`a < b(1 - \theta)` (``rel``) or
    :math:`a < b - \theta` (``abs``), mirrored for ``max``, with :math:`\theta` = ``threshold``. After a
    reduction, ``cooldown`` calls are ignored. The new value is :math:`\max(v \cdot \text{factor}, \text{min\_value})`
    and is kept only if it is more than ``eps`` below the old one. Same rules and defaults as torch.

    It is fed metrics, not steps: call ``update(metric)`` once per evaluation (epoch). Calling it with a step
    returns the current value, so it can sit in a :class:`ScheduleAdapter` like any schedule; built with
    ``initial=1.0`` it is a multiplier for ``relative=True``. Unlike torch, ``min_value`` is one number
    (one object per group, or a relative adapter, replace torch's per-group ``min_lr`` list).
    """

    initial: float
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_value: float = 0.0
    eps: float = 1e-8
    value: float = field(init=False)
    best: float = field(init=False)
    num_bad_epochs: int = field(init=False, default=0)
    cooldown_counter: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        check_float("ReduceOnPlateau", "initial", self.initial)
        check_choice("ReduceOnPlateau", "mode", self.mode, ("min", "max"))
        check_float("ReduceOnPlateau", "factor", self.factor, 0.0, 1.0, high_open=True)
        check_int("ReduceOnPlateau", "patience", self.patience, 0)
        check_float("ReduceOnPlateau", "threshold", self.threshold, 0.0)
        check_choice("ReduceOnPlateau", "threshold_mode", self.threshold_mode, ("rel", "abs"))
        check_int("ReduceOnPlateau", "cooldown", self.cooldown, 0)
        check_float("ReduceOnPlateau", "min_value", self.min_value, 0.0)
        check_float("ReduceOnPlateau", "eps", self.eps, 0.0)
        self.value = float(self.initial)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _is_better(self, a: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            return sign * a < sign * self.best * (1.0 - sign * self.threshold)
        return sign * a < sign * self.best - self.threshold

    def update(self, metric: float) -> float:
        """Record one metric (a float or 0-d tensor) and return the value to use from now on."""
        current = float(metric)
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.value * self.factor, self.min_value)
            if self.value - new > self.eps:
                self.value = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.value

    def __call__(self, step: int) -> float:
        """The current value, whatever the step."""
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("value", "best", "num_bad_epochs", "cooldown_counter"):
            setattr(self, key, state[key])
