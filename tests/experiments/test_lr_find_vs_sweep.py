"""lr-find's suggestion against the best learning rate of a sweep, on recorded curves (issue 14).

``lr_find_vs_sweep.json`` holds what ``benchmarks/lr_find_vs_sweep.py --record`` wrote: for 4 tasks × 3 optimizers
the raw losses of lr-find's seeds (the command's defaults: 3 seeds, 100 steps over 1e-7 … 10) and, from a sweep of
the same optimizer (≈ 400 updates a run, 2 seeds, 1e-4 … 10 at 4 rates a decade), its best learning rate and the
first rate above it where validation accuracy collapsed (below halfway from chance to the best, or diverged). The
suggestion is rebuilt here from the losses by :mod:`descentlab.lr_range`; the live check at the end shows the
recorded losses are what lr-find computes today.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from descentlab.experiments import lr_find as lf
from descentlab.lr_range import learning_rates, stored_result

CASES = json.loads((Path(__file__).with_name("lr_find_vs_sweep.json")).read_text())["cases"]
# The two cases the rule misses (BENCHMARKS.md, "lr-find against a sweep", says why): the suggestion is 3.8× above
# digits-mlp / adam's best (its validation accuracy is within 2.5 points from 0.0056 to 0.1) and 4× below
# mnist1d-mlp / sgd's (which, at ≈ 400 updates, wants the largest stable rate).
MISSES = {("digits-mlp", "adam"), ("mnist1d-mlp", "sgd")}


def _result(case):
    spec = case["spec"]
    lrs = learning_rates(spec["start"], spec["end"], spec["steps"])
    runs = [(s["seed"], {"optimizer": case["optimizer"]},
             [{"step": k, "lr": lrs[k], "loss": loss} for k, loss in enumerate(s["losses"])]) for s in case["seeds"]]
    return stored_result(spec, runs)


def test_the_record_covers_four_tasks_and_three_optimizers():
    assert len({c["task"] for c in CASES}) >= 4 and len({c["optimizer"] for c in CASES}) >= 3
    assert len(CASES) == len({(c["task"], c["optimizer"]) for c in CASES}) == 12


@pytest.mark.parametrize("case", CASES, ids=[f"{c['task']}-{c['optimizer']}" for c in CASES])
def test_suggestion_against_the_sweep(case):
    s = _result(case).suggestion
    ratio = s.lr / case["best_lr"]
    within = 1 / 3 <= ratio <= 3
    assert within == ((case["task"], case["optimizer"]) not in MISSES), f"ratio {ratio:.3g}"
    collapse = case["collapse_lr"]
    assert collapse is None or s.upper < collapse  # the range never reaches a rate where the sweep collapsed
    assert s.lower == pytest.approx(s.lr / 3) and s.upper == s.lr == s.steepest_lr


def test_the_recorded_losses_are_what_lr_find_computes_today():
    case = next(c for c in CASES if (c["task"], c["optimizer"]) == ("digits-mlp", "adam"))
    result, _ = lf.run(lf.LRFindSpec("digits-mlp", "adam", seeds=len(case["seeds"]), steps=case["spec"]["steps"]))
    recorded = _result(case)
    upto = result.lrs.index(recorded.suggestion.min_lr) + 1
    for curve, seed in zip(result.curves, case["seeds"]):
        # recorded to 6 significant digits; past the minimum the loss blows up and amplifies float rounding that
        # depends on the thread count (≈ 0.2 % apart there), so the comparison ends at the minimum
        assert curve.losses[:upto] == pytest.approx(seed["losses"][:upto], rel=1e-5)
    assert result.suggestion.lr == recorded.suggestion.lr and result.suggestion.min_lr == recorded.suggestion.min_lr
