"""The lr-find report's check table and notes (:mod:`descentlab.report.lr_find_report`), on results made by
lr-find's own arithmetic from synthetic losses."""

from __future__ import annotations

import math

from descentlab import lr_range as lr
from descentlab.report.lr_find_report import check_table
from tests.report.test_lr_find_plot import SPEC, _curve


def _checked(scores_by_j):
    curve = _curve()
    anchor = lr.combine(SPEC, "adam", {}, 32, [curve]).range_test.lr
    checks = {anchor * 10 ** (j / 4): [[score] * SPEC["check_steps"]] for j, score in scores_by_j.items()}
    return lr.combine(SPEC, "adam", {}, 32, [curve], checks)


def test_a_rate_next_to_a_diverged_one_is_not_called_diverged():
    """'with neighbours' of a rate whose own runs finished but whose neighbour diverged is +inf; the table said
    'diverged' as for the rate that did."""
    scores = {j: 1.0 + abs(j) / 10 for j in range(-3, 4)}
    scores[3] = math.inf
    result = _checked(scores)
    rows = {r[0]: r for r in check_table(result).rows}
    top, below = (f"{c.lr:.3g}" for c in result.checked[-1:-3:-1])
    assert rows[top][2] == "diverged" and rows[top][3] == "diverged"
    assert rows[below][2] == "1.2000" and rows[below][3] == "∞ (a neighbour diverged)"


def test_an_unfinished_check_says_how_many_rates_are_left_and_how_to_finish_it():
    result = _checked({j: 1.0 + abs(j) / 10 for j in range(-3, 2)})  # the two highest rates not run yet
    assert len(result.to_check) == 2 and not result.suggestion.checked
    assert ("the check has not finished (2 of its rates still to run: runs interrupted or failed, which the same "
            "lr-find again runs): the range test's suggestion, unchecked") in result.suggestion.note
