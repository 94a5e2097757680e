"""The benchmark's arithmetic against numbers worked out by hand (docs/benchmark.md, "Scoring")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descentlab import scoring

INF = math.inf
# Updates to target of three optimizers on three tasks; C never reaches the target of t1, nobody that of t3.
TIMES = {"t1": {"A": 100.0, "B": 200.0, "C": INF},
         "t2": {"A": 300.0, "B": 100.0, "C": 150.0},
         "t3": {"A": INF, "B": INF, "C": INF}}


def test_ratios_divide_by_the_fastest_and_never_reached_is_infinite():
    ratios = {task: scoring.ratios(times) for task, times in TIMES.items()}
    assert ratios == {"t1": {"A": 1.0, "B": 2.0, "C": INF}, "t2": {"A": 3.0, "B": 1.0, "C": 1.5},
                      "t3": {"A": INF, "B": INF, "C": INF}}


def test_profile_and_score_reproduce_the_hand_computed_example():
    ratios = {task: scoring.ratios(times) for task, times in TIMES.items()}
    # rho(tau) = fraction of the 3 tasks with r <= tau
    assert scoring.profile(ratios, [1.0, 1.5, 2.0, 3.0, 4.0]) == {
        "A": [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3], "B": [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3],
        "C": [0.0, 1 / 3, 1 / 3, 1 / 3, 1 / 3]}
    # score = sum over tasks of max(0, 4 - r) / (4 - 1) / 3: A (3 + 1) / 9, B (2 + 3) / 9, C 2.5 / 9
    score = scoring.profile_score(ratios)
    assert score == pytest.approx({"A": 4 / 9, "B": 5 / 9, "C": 2.5 / 9}, abs=1e-15)
    # ... which is AlgoPerf's definition, 1/(r_max - 1) times the area under rho from 1 to r_max
    taus = np.linspace(1.0, 4.0, 300_001)
    for name, rho in scoring.profile(ratios, taus).items():
        assert np.trapezoid(rho, taus) / 3.0 == pytest.approx(score[name], abs=1e-4)


def test_the_fastest_everywhere_scores_one_and_a_single_task_with_a_zero_time():
    assert scoring.profile_score({"t": scoring.ratios({"A": 5.0, "B": 20.0})}) == {"A": 1.0, "B": 0.0}
    assert scoring.ratios({"A": 0.0, "B": 3.0}) == {"A": 1.0, "B": INF}


def test_selection_is_over_the_budget_prefix_ties_to_the_earlier_and_skips_diverged():
    values = [0.5, None, 0.7, 0.7, math.nan]
    assert [scoring.select(values, b) for b in (1, 2, 3, 4, 5)] == [0, 0, 2, 2, 2]
    assert scoring.select([1.0, 0.5, 0.5], lower_is_better=True) == 1
    assert scoring.select([None, math.inf]) is None


def test_median_time_counts_never_reached_as_infinite():
    assert scoring.median_time([10, None, 30]) == 30
    assert scoring.median_time([10, 20]) == 15
    assert scoring.median_time([10, None]) == INF
    assert scoring.median_time([]) == INF


def test_t_interval_by_hand():
    # mean 2, s = 1, t(0.975, 2) = 4.302653: half width 4.302653 / sqrt(3) = 2.484138
    ci = scoring.t_interval([1.0, 2.0, 3.0, None])
    assert (ci.mean, ci.n) == (2.0, 3)
    assert (ci.low, ci.high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert ci.format(".3g") == "2 ± 2.48"
    one = scoring.t_interval([0.9])
    assert one.n == 1 and math.isnan(one.low) and one.format(".1f", scale=100, unit="%") == "90.0 %"


def test_welch_by_hand_and_the_leaders():
    # diff -3, each s^2/n = 1/3, df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, t(0.975, 4) = 2.776445,
    # half width 2.776445 * sqrt(2/3) = 2.776445 * 0.816497 = 2.266958
    d = scoring.welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert d.diff == -3.0 and (d.low, d.high) == pytest.approx((-3 - 2.266958, -3 + 2.266958), abs=1e-6)
    assert d.distinguishable is True
    assert scoring.welch([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]).distinguishable is False
    assert scoring.welch([1.0], [2.0, 3.0]).distinguishable is None  # one seed: cannot tell
    assert scoring.welch([1.0, 1.0], [2.0, 2.0]).distinguishable is True  # no spread at all
    samples = {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [4.5, 5.0, 5.5]}
    assert scoring.leaders(samples) == ["b", "c"]  # b's mean ties c's: c cannot be told apart from it
    assert scoring.leaders({"a": [1.0, 2.0, 3.0], "b": [7.0, 8.0, 9.0]}) == ["b"]
    assert scoring.leaders({"a": [1.0, 2.0, 3.0], "b": [7.0, 8.0, 9.0]}, lower_is_better=True) == ["a"]
    assert scoring.leaders({"a": [0.9], "b": [0.8]}) == ["a", "b"]  # one seed: no winner
    assert scoring.leaders({"a": [None]}) == []


def test_selection_value_and_time_to_target_read_a_stored_summary():
    summary = {"final": {"val_acc": 0.9, "val_loss": 0.3}, "time_to_target": {"epoch": 2, "steps": 80,
                                                                                "seconds": 1.5}}
    assert scoring.selection_value("completed", summary, "accuracy") == 0.9
    assert scoring.selection_value("completed", summary, "loss") == 0.3
    assert scoring.selection_value("diverged", summary, "accuracy") is None
    assert scoring.to_target(summary) == 80 and scoring.to_target(summary, "seconds") == 1.5
    assert scoring.to_target({"time_to_target": None}) is None
