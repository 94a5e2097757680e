"""Schedules that move the learning rate and the momentum together: one-cycle and cyclical (CLR).

Each object is the learning-rate schedule; its ``momentum`` method is the matching momentum schedule (for
Adam-like optimizers, schedule ``"betas[0]"`` with it), e.g. ``{"lr": oc, "momentum": oc.momentum}``.
Unlike torch's ``OneCycleLR``/``CyclicLR`` they take one ``max_lr``, not one per param group: build them with
``max_lr=1.0`` and use ``ScheduleAdapter(..., relative=True)`` to keep per-group ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from descentlab.errors import UserError
from descentlab.schedules._validate import check_choice, check_float, check_int, check_step


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


@dataclass(frozen=True)
class OneCycle:
    r"""The 1cycle policy (torch ``OneCycleLR``): up from ``max_lr/div_factor`` to ``max_lr``, then down.

    Phases (``p`` = ``pct_start``, ``T`` = ``total_steps``, each annealed by ``anneal_strategy``, ``cos``:
    :math:`e + \tfrac12(s - e)(1 + \cos\pi x)`, ``linear``: :math:`s + (e - s)x`):

    - two phases (default, fastai): steps ``0 .. pT-1`` from ``initial = max_lr/div_factor`` to ``max_lr``, then to
      ``initial/final_div_factor`` at step ``T-1``; momentum goes ``max_momentum -> base_momentum -> max_momentum``;
    - ``three_phase=True`` (the paper): up to ``max_lr``, symmetrically back to ``initial`` at step ``2pT-2``, then
      down to ``initial/final_div_factor``; momentum down, up, then flat at ``max_momentum``.

    Source: L. N. Smith and N. Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
    Learning Rates", 2018 (arXiv 2017), https://arxiv.org/abs/1708.07120.

    .. note:: After step ``T-1`` the final values are held; torch extrapolates the last phase at step ``T``
       and raises beyond it.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        check_float("OneCycle", "max_lr", self.max_lr)
        check_int("OneCycle", "total_steps", self.total_steps, 2)
        check_float("OneCycle", "pct_start", self.pct_start, 0.0, 1.0)
        check_choice("OneCycle", "anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        check_float("OneCycle", "base_momentum", self.base_momentum)
        check_float("OneCycle", "max_momentum", self.max_momentum)
        check_float("OneCycle", "div_factor", self.div_factor, 0.0, low_open=True)
        check_float("OneCycle", "final_div_factor", self.final_div_factor, 0.0, low_open=True)
        ends = self._ends()
        if not (ends[0] > 0 and all(a < b for a, b in zip(ends, ends[1:]))):
            raise UserError(
                f"OneCycle: pct_start={self.pct_start} leaves an empty phase with total_steps={self.total_steps} "
                f"and three_phase={self.three_phase}; need 1 < pct_start*total_steps "
                f"< {'(total_steps+1)/2' if self.three_phase else 'total_steps'}"
            )

    def _ends(self) -> tuple[float, ...]:
        up = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            return up, float(2 * self.pct_start * self.total_steps) - 2, self.total_steps - 1
        return up, self.total_steps - 1

    def _phase(self, step: int) -> tuple[int, float]:
        step = min(check_step("OneCycle", step), self.total_steps - 1)
        start = 0.0
        ends = self._ends()
        for i, end in enumerate(ends):
            if step <= end or i == len(ends) - 1:
                return i, (step - start) / (end - start)
            start = end
        raise AssertionError("unreachable")

    def __call__(self, step: int) -> float:
        initial = self.max_lr / self.div_factor
        points = [initial, self.max_lr]
        points += [initial, initial / self.final_div_factor] if self.three_phase else [initial / self.final_div_factor]
        i, pct = self._phase(step)
        return _anneal(self.anneal_strategy, points[i], points[i + 1], pct)

    def momentum(self, step: int) -> float:
        """The momentum (or beta1) schedule that mirrors the learning rate."""
        hi, lo = self.max_momentum, self.base_momentum
        points = [hi, lo, hi, hi] if self.three_phase else [hi, lo, hi]
        i, pct = self._phase(step)
        return _anneal(self.anneal_strategy, points[i], points[i + 1], pct)


@dataclass(frozen=True)
class Cyclic:
    r"""Cyclical learning rate, triangular policies (torch ``CyclicLR``).

    With :math:`L = s_{up} + s_{down}`, cycle :math:`c = \lfloor 1 + k/L \rfloor`, position
    :math:`x = 1 + k/L - c` and :math:`r = s_{up}/L`: the wave is :math:`h = x/r` if :math:`x \le r`, else
    :math:`(x - 1)/(r - 1)`, and :math:`\eta_k = \eta_{base} + (\eta_{max} - \eta_{base})\,h\,\sigma`
    with :math:`\sigma = 1` (``triangular``), :math:`2^{1-c}` (``triangular2``) or :math:`\gamma^k`
    (``exp_range``). Momentum moves the other way: :math:`m_k = m_{max} - (m_{max} - m_{base})\,h\,\sigma`.

    Source: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186.
    """

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: str = "triangular"
    gamma: float = 1.0
    base_momentum: float = 0.8
    max_momentum: float = 0.9

    def __post_init__(self) -> None:
        check_float("Cyclic", "base_lr", self.base_lr)
        check_float("Cyclic", "max_lr", self.max_lr)
        check_int("Cyclic", "step_size_up", self.step_size_up, 1)
        if self.step_size_down is not None:
            check_int("Cyclic", "step_size_down", self.step_size_down, 1)
        check_choice("Cyclic", "mode", self.mode, ("triangular", "triangular2", "exp_range"))
        check_float("Cyclic", "gamma", self.gamma, 0.0, low_open=True)
        check_float("Cyclic", "base_momentum", self.base_momentum)
        check_float("Cyclic", "max_momentum", self.max_momentum)

    def _wave(self, step: int) -> tuple[float, float]:
        """``(h, sigma)``: the triangle wave in [0, 1] and the amplitude scale, computed as torch does."""
        check_step("Cyclic", step)
        up = float(self.step_size_up)
        total = up + float(self.step_size_down if self.step_size_down is not None else self.step_size_up)
        ratio = up / total
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        wave = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.mode == "triangular":
            return wave, 1.0
        if self.mode == "triangular2":
            return wave, 2.0 ** (1 - cycle)  # = torch's 1 / 2 ** (cycle - 1), exact, without overflow
        return wave, self.gamma**step

    def __call__(self, step: int) -> float:
        wave, scale = self._wave(step)
        return self.base_lr + (self.max_lr - self.base_lr) * wave * scale

    def momentum(self, step: int) -> float:
        """The momentum (or beta1) schedule, high when the learning rate is low."""
        wave, scale = self._wave(step)
        return self.max_momentum - (self.max_momentum - self.base_momentum) * wave * scale
