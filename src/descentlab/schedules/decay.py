"""Piecewise and closed-form decays: constant, step, multistep, exponential, polynomial.

Each equals the ``get_last_lr()`` of the torch scheduler of the same name after ``step`` calls to ``.step()``,
computed in closed form (torch multiplies the previous rate, which drifts by a few ulps over long runs).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from descentlab.schedules._validate import check_float, check_int, check_step


@dataclass(frozen=True)
class Constant:
    r"""The same value at every step: :math:`\eta_k = \text{value}`."""

    value: float

    def __post_init__(self) -> None:
        check_float("Constant", "value", self.value)

    def __call__(self, step: int) -> float:
        check_step("Constant", step)
        return float(self.value)


@dataclass(frozen=True)
class StepDecay:
    r"""Multiply by ``gamma`` every ``step_size`` steps (torch ``StepLR``).

    .. math:: \eta_k = \eta_0 \, \gamma^{\lfloor k / s \rfloor}
    """

    base: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_float("StepDecay", "base", self.base)
        check_int("StepDecay", "step_size", self.step_size, 1)
        check_float("StepDecay", "gamma", self.gamma, 0.0)

    def __call__(self, step: int) -> float:
        check_step("StepDecay", step)
        return self.base * self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class MultiStepDecay:
    r"""Multiply by ``gamma`` at each milestone (torch ``MultiStepLR``).

    .. math:: \eta_k = \eta_0 \, \gamma^{\#\{m \in \text{milestones} : m \le k\}}

    Milestones are sorted; a repeated milestone multiplies by ``gamma`` once per repetition, as in torch.
    """

    base: float
    milestones: Sequence[int]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_float("MultiStepDecay", "base", self.base)
        for m in self.milestones:
            check_int("MultiStepDecay", "milestones[i]", m, 0)
        object.__setattr__(self, "milestones", tuple(sorted(self.milestones)))
        check_float("MultiStepDecay", "gamma", self.gamma, 0.0)

    def __call__(self, step: int) -> float:
        check_step("MultiStepDecay", step)
        return self.base * self.gamma ** bisect_right(self.milestones, step)


@dataclass(frozen=True)
class ExponentialDecay:
    r"""Multiply by ``gamma`` every step (torch ``ExponentialLR``): :math:`\eta_k = \eta_0 \gamma^k`."""

    base: float
    gamma: float

    def __post_init__(self) -> None:
        check_float("ExponentialDecay", "base", self.base)
        check_float("ExponentialDecay", "gamma", self.gamma, 0.0)

    def __call__(self, step: int) -> float:
        check_step("ExponentialDecay", step)
        return self.base * self.gamma**step


@dataclass(frozen=True)
class PolynomialDecay:
    r"""Polynomial decay to zero over ``total_iters`` steps, then zero (torch ``PolynomialLR``).

    .. math:: \eta_k = \eta_0 \left(1 - \frac{\min(k, T)}{T}\right)^{p}

    Unlike optax's ``polynomial_schedule`` there is no end value: it decays to 0, as torch does.
    """

    base: float
    total_iters: int = 5
    power: float = 1.0

    def __post_init__(self) -> None:
        check_float("PolynomialDecay", "base", self.base)
        check_int("PolynomialDecay", "total_iters", self.total_iters, 1)
        check_float("PolynomialDecay", "power", self.power, 0.0)

    def __call__(self, step: int) -> float:
        check_step("PolynomialDecay", step)
        return self.base * (1.0 - min(step, self.total_iters) / self.total_iters) ** self.power
