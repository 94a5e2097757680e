"""Properties of the schedules that hold for all arguments (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from descentlab.schedules import Cosine, CosineRestarts, Cyclic, InverseSqrt, OneCycle, Warmup, wsd

values = st.floats(1e-6, 10.0)
steps = st.integers(0, 100_000)
lengths = st.integers(1, 5_000)


def within(x: float, low: float, high: float) -> bool:
    slack = 1e-12 * max(1.0, abs(low), abs(high))
    return low - slack <= x <= high + slack


@given(base=values, fraction=st.floats(0.0, 1.0), t_max=lengths, step=steps)
def test_cosine_stays_within_eta_min_and_base(base, fraction, t_max, step) -> None:
    eta_min = base * fraction
    s = Cosine(base, t_max, eta_min)
    assert within(s(step), eta_min, base)
    assert math.isclose(s(0), base, rel_tol=1e-15)
    assert math.isclose(s(t_max), eta_min, rel_tol=1e-12, abs_tol=1e-15)


@given(base=values, t_max=lengths, step=steps)
def test_cosine_is_non_increasing(base, t_max, step) -> None:
    s = Cosine(base, t_max)
    assert s(step + 1) <= s(step)


@given(base=values, t_0=st.integers(1, 50), t_mult=st.integers(1, 4), step=steps)
def test_restarts_stay_in_range_and_restart_at_base(base, t_0, t_mult, step) -> None:
    s = CosineRestarts(base, t_0, t_mult, base / 10)
    assert within(s(step), base / 10, base)
    t_cur, t_i = s.period(step)
    assert 0 <= t_cur < t_i
    assert math.isclose(s(step - t_cur), base, rel_tol=1e-15)


@given(peak=values, warmup=st.integers(1, 2_000), start=st.floats(0.0, 1.0), t_max=lengths)
def test_warmup_is_monotone_up_to_its_end(peak, warmup, start, t_max) -> None:
    s = Warmup(Cosine(peak, t_max), warmup, start)
    ramp = [s(k) for k in range(0, warmup + 1, max(1, warmup // 200))] + [s(warmup)]
    assert all(a <= b for a, b in zip(ramp, ramp[1:]))
    assert math.isclose(s(0), start * peak, rel_tol=1e-12, abs_tol=1e-300)
    assert s(warmup) == peak


@given(
    peak=values,
    total=st.integers(10, 10_000),
    warm=st.floats(0.0, 0.5),
    frac=st.floats(0.01, 0.5),
    decay=st.sampled_from(["linear", "cosine", "1-sqrt"]),
)
def test_wsd_warms_up_holds_then_decays_to_final(peak, total, warm, frac, decay) -> None:
    warmup_steps = int(warm * total)
    s = wsd(peak, total, warmup_steps, frac, decay, final=peak / 100)
    decay_steps = max(1, round(frac * total))
    assert s(warmup_steps) == peak
    assert s(total - decay_steps) == peak
    tail = [s(k) for k in range(total - decay_steps, total + 3)]
    assert all(a >= b for a, b in zip(tail, tail[1:]))
    assert math.isclose(s(total), peak / 100, rel_tol=1e-12)
    assert s(total + 1000) == s(total)


@given(peak=values, warmup=st.integers(1, 1000), step=steps)
def test_inverse_sqrt_peaks_at_the_end_of_warmup(peak, warmup, step) -> None:
    s = InverseSqrt(peak, warmup)
    assert within(s(step), 0.0, peak)
    assert s(warmup - 1) == peak


@given(
    max_lr=values,
    total=st.integers(10, 5_000),
    pct=st.floats(0.15, 0.45),
    three=st.booleans(),
    strategy=st.sampled_from(["cos", "linear"]),
    step=steps,
)
def test_onecycle_stays_within_its_bounds(max_lr, total, pct, three, strategy, step) -> None:
    s = OneCycle(max_lr, total, pct, strategy, three_phase=three)
    assert within(s(step), max_lr / 25 / 1e4, max_lr)
    assert within(s.momentum(step), 0.85, 0.95)
    assert math.isclose(s(total - 1), max_lr / 25 / 1e4, rel_tol=1e-9)


@given(
    base=values,
    up=st.integers(1, 100),
    down=st.integers(1, 100),
    step=steps,
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
)
def test_cyclic_stays_within_its_bounds(base, up, down, step, mode) -> None:
    s = Cyclic(base, 3 * base, up, down, mode, gamma=0.999)
    assert within(s(step), base, 3 * base)
    assert within(s.momentum(step), 0.8, 0.9)
    if mode == "triangular":
        assert math.isclose(s(step % (up + down)), s(step), rel_tol=1e-9)
