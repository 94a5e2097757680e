"""Linear warmup in front of any schedule, warmup-stable-decay (WSD) and inverse square root."""

from __future__ import annotations

import math
from dataclasses import dataclass

from descentlab.errors import UserError
from descentlab.schedules._validate import check_choice, check_float, check_int, check_step
from descentlab.schedules.base import Schedule


@dataclass(frozen=True)
class Warmup:
    r"""Linear warmup for ``warmup_steps`` steps, then ``schedule`` shifted to start where warmup ends.

    .. math:: \eta_k = \begin{cases} s(0)\,\big(f + (1 - f)\,k / W\big) & k < W \\ s(k - W) & k \ge W \end{cases}

    with :math:`s` the wrapped schedule, :math:`W` = ``warmup_steps`` and :math:`f` = ``start_factor``: a join
    of two schedules at step :math:`W` (optax ``join_schedules``). It equals torch's
    ``SequentialLR([LinearLR(start_factor, 1.0, W), S], milestones=[W])``.

    .. note:: ``start_factor`` defaults to 0 (the first update then has value 0, as in Hugging Face's linear
       warmup); torch's ``LinearLR`` requires ``start_factor > 0``.
    """

    schedule: Schedule
    warmup_steps: int
    start_factor: float = 0.0

    def __post_init__(self) -> None:
        if not callable(self.schedule):
            raise UserError(f"Warmup: schedule must be callable step -> value, got {self.schedule!r}")
        check_int("Warmup", "warmup_steps", self.warmup_steps, 0)
        check_float("Warmup", "start_factor", self.start_factor, 0.0, 1.0)

    def __call__(self, step: int) -> float:
        check_step("Warmup", step)
        if step >= self.warmup_steps:
            return self.schedule(step - self.warmup_steps)
        f = self.start_factor
        return self.schedule(0) * (f + (1.0 - f) * step / self.warmup_steps)


_DECAYS = ("linear", "cosine", "1-sqrt")


@dataclass(frozen=True)
class StableDecay:
    r"""Hold ``peak`` for ``total_steps - decay_steps`` steps, then decay to ``final`` over ``decay_steps``.

    With :math:`x = \max(0, k - (T - D)) / D` clipped to 1, :math:`\eta_k = \eta_f + (\eta_p - \eta_f)\,g(x)`,
    :math:`g(x) = 1 - x` (linear), :math:`\tfrac12(1 + \cos \pi x)` (cosine) or :math:`1 - \sqrt{x}` (1-sqrt).
    """

    peak: float
    total_steps: int
    decay_steps: int
    decay: str = "linear"
    final: float = 0.0

    def __post_init__(self) -> None:
        check_float("StableDecay", "peak", self.peak)
        check_int("StableDecay", "total_steps", self.total_steps, 1)
        check_int("StableDecay", "decay_steps", self.decay_steps, 1)
        if self.decay_steps > self.total_steps:
            raise UserError(
                f"StableDecay: decay_steps must be <= total_steps={self.total_steps}, got {self.decay_steps}"
            )
        check_choice("StableDecay", "decay", self.decay, _DECAYS)
        check_float("StableDecay", "final", self.final)

    def __call__(self, step: int) -> float:
        check_step("StableDecay", step)
        x = min(1.0, max(0, step - (self.total_steps - self.decay_steps)) / self.decay_steps)
        if self.decay == "linear":
            g = 1.0 - x
        elif self.decay == "cosine":
            g = (1.0 + math.cos(math.pi * x)) / 2.0
        else:
            g = 1.0 - math.sqrt(x)
        return self.final + (self.peak - self.final) * g


def wsd(
    peak: float,
    total_steps: int,
    warmup_steps: int = 0,
    decay_fraction: float = 0.1,
    decay: str = "linear",
    final: float = 0.0,
    start_factor: float = 0.0,
) -> Warmup:
    r"""Warmup-stable-decay: linear warmup to ``peak``, constant ``peak``, decay over the last fraction.

    Source: S. Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models with Scalable Training
    Strategies", 2024, https://arxiv.org/abs/2404.06395, §4 (the 1-sqrt cooldown is from Hägele et al. 2024,
    https://arxiv.org/abs/2405.18392). The decay lasts ``D = max(1, round(decay_fraction * total_steps))``
    steps, counted inside ``total_steps``, and reaches ``final`` at step ``total_steps`` (one past the last update
    of a ``total_steps``-update run; the last update gets the value one decay step above ``final``).
    """
    check_int("wsd", "total_steps", total_steps, 1)
    check_int("wsd", "warmup_steps", warmup_steps, 0)
    check_float("wsd", "decay_fraction", decay_fraction, 0.0, 1.0, low_open=True)
    decay_steps = max(1, round(decay_fraction * total_steps))
    if warmup_steps + decay_steps > total_steps:
        raise UserError(
            f"wsd: warmup_steps + decay_fraction * total_steps must be <= total_steps={total_steps}, "
            f"got warmup_steps={warmup_steps} and {decay_steps} decay steps"
        )
    body = StableDecay(peak, total_steps - warmup_steps, decay_steps, decay, final)
    return Warmup(body, warmup_steps, start_factor)


@dataclass(frozen=True)
class InverseSqrt:
    r"""Linear warmup then decay as the inverse square root of the step (the Transformer schedule).

    .. math:: \eta_k = \eta_p \min\!\left(\frac{t}{W}, \sqrt{\frac{W}{t}}\right), \qquad t = k + 1

    Source: A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017, eq. (3):
    :math:`d_{model}^{-1/2}\min(t^{-1/2}, t\,W^{-3/2})`, rescaled here so the peak (at :math:`t = W`) is
    :math:`\eta_p` = ``peak``. The paper's step :math:`t` is 1-based, so ``schedule(0) = peak / W``.
    """

    peak: float
    warmup_steps: int = 1

    def __post_init__(self) -> None:
        check_float("InverseSqrt", "peak", self.peak)
        check_int("InverseSqrt", "warmup_steps", self.warmup_steps, 1)

    def __call__(self, step: int) -> float:
        t = check_step("InverseSqrt", step) + 1
        return self.peak * min(t / self.warmup_steps, math.sqrt(self.warmup_steps / t))
