"""Cosine annealing and cosine annealing with warm restarts (SGDR).

Source: I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017,
https://arxiv.org/abs/1608.03983, eq. (5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from descentlab.schedules._validate import check_float, check_int, check_step


def _cosine(base: float, eta_min: float, t_cur: float, t_i: float) -> float:
    return eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


@dataclass(frozen=True)
class Cosine:
    r"""Cosine annealing from ``base`` to ``eta_min`` over ``T_max`` steps (torch ``CosineAnnealingLR``).

    .. math::
        \eta_k = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\left(1 + \cos\frac{\pi \min(k, T_{max})}{T_{max}}\right)

    .. warning:: After ``T_max`` this schedule **stays at** ``eta_min`` (as optax's ``cosine_decay_schedule``);
       torch's ``CosineAnnealingLR`` keeps following the cosine and rises back towards ``base``. The two agree
       for ``k <= T_max``. Torch also computes the rate recursively from the previous one; this is the closed
       form (torch's ``_get_closed_form_lr``).
    """

    base: float
    T_max: int
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        check_float("Cosine", "base", self.base)
        check_int("Cosine", "T_max", self.T_max, 1)
        check_float("Cosine", "eta_min", self.eta_min)

    def __call__(self, step: int) -> float:
        check_step("Cosine", step)
        return _cosine(self.base, self.eta_min, min(step, self.T_max), self.T_max)


@dataclass(frozen=True)
class CosineRestarts:
    r"""Cosine annealing with warm restarts, SGDR (torch ``CosineAnnealingWarmRestarts``).

    .. math:: \eta_k = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\left(1 + \cos\frac{\pi T_{cur}}{T_i}\right)

    where the i-th period lasts :math:`T_i = T_0 T_{mult}^i` steps and :math:`T_{cur}` counts the steps since
    the last restart; at a restart the value jumps back to :math:`\eta_0`, so :math:`\eta_{min}` itself is never
    reached (as in torch, and as in the paper for integer step counts).
    """

    base: float
    T_0: int
    T_mult: int = 1
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        check_float("CosineRestarts", "base", self.base)
        check_int("CosineRestarts", "T_0", self.T_0, 1)
        check_int("CosineRestarts", "T_mult", self.T_mult, 1)
        check_float("CosineRestarts", "eta_min", self.eta_min)

    def period(self, step: int) -> tuple[int, int]:
        """``(T_cur, T_i)``: steps since the last restart and the length of the current period."""
        check_step("CosineRestarts", step)
        if self.T_mult == 1:
            return step % self.T_0, self.T_0
        start, length = 0, self.T_0
        while step >= start + length:  # O(log step): periods grow geometrically
            start, length = start + length, length * self.T_mult
        return step - start, length

    def __call__(self, step: int) -> float:
        t_cur, t_i = self.period(step)
        return _cosine(self.base, self.eta_min, t_cur, t_i)
