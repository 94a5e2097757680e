import math

import numpy as np
import pytest

from descentlab.errors import UserError
from descentlab.experiments import lr_find as lf
from descentlab.report.lr_find_report import load
from descentlab.store import Store


def test_learning_rates_are_exactly_geometric():
    lrs = lf.learning_rates(1e-7, 10.0, 100)
    assert len(lrs) == 100 and lrs[0] == 1e-7 and math.isclose(lrs[-1], 10.0, rel_tol=1e-14)
    assert lrs == [1e-7 * (10.0 / 1e-7) ** (k / 99) for k in range(100)]
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, (1e8) ** (1 / 99), rtol=1e-12)


@pytest.mark.parametrize("start, end, steps, message", [
    (1.0, 1.0, 10, "--start 1 must be < --end 1"), (1.0, 0.1, 10, "must be < --end"),
    (0.0, 1.0, 10, "must be a finite number > 0"), (1e-3, 1.0, 1, "--steps 1 must be a whole number ≥ 2"),
])
def test_bad_ranges_are_user_errors(start, end, steps, message):
    with pytest.raises(UserError, match=message):
        lf.learning_rates(start, end, steps)


def test_ema_with_bias_correction_matches_a_hand_computation():
    losses, beta = [2.0, 1.0, 4.0], 0.9
    a1 = 0.1 * 2.0                      # 0.2
    a2 = 0.9 * a1 + 0.1 * 1.0           # 0.28
    a3 = 0.9 * a2 + 0.1 * 4.0           # 0.652
    expected = [a1 / (1 - 0.9), a2 / (1 - 0.81), a3 / (1 - 0.729)]
    np.testing.assert_allclose(lf.smooth(losses, beta), expected, rtol=1e-12)
    assert lf.smooth([3.0])[0] == pytest.approx(3.0)  # bias correction: the first value is the loss itself


def test_stop_rule_fires_at_the_first_step_above_four_times_the_best():
    smoothed = [3.0, 2.0, 1.0, 1.5, 3.9, 4.1, 9.0]
    assert lf.stop_step(smoothed) == 5
    assert lf.stop_step([3.0, 2.0, float("nan"), 1.0]) == 2
    assert lf.stop_step([3.0, 2.0, 1.0]) is None


def test_a_loss_that_blows_up_stops_the_running_smoother_at_the_same_step():
    losses = [2.0] * 10 + [1.0] * 20 + [2.0 ** k for k in range(1, 30)]
    smoothed = lf.smooth(losses)
    expected = lf.stop_step(smoothed)
    best = min(smoothed[:expected])
    assert smoothed[expected] > 4 * best >= smoothed[expected - 1]
    s = lf.Smoother()
    fired = next(k for k, x in enumerate(losses) if s.update(x)[1])
    assert fired == expected


def test_zero_phase_is_a_centred_mean_narrowed_symmetrically_at_the_ends():
    losses = [5.0, 1.0, 3.0, 2.0, 8.0, 4.0]
    assert lf.zero_phase(losses, 2) == pytest.approx([
        5.0,                               # k = 0: h = 0
        (5 + 1 + 3) / 3,                   # k = 1: h = 1
        (5 + 1 + 3 + 2 + 8) / 5,           # k = 2: h = 2
        (1 + 3 + 2 + 8 + 4) / 5,           # k = 3: h = 2
        (2 + 8 + 4) / 3,                   # k = 4: h = 1 (one step left after it)
        4.0])                              # k = 5: the last step alone
    assert lf.zero_phase([], 3) == [] and lf.zero_phase([2.0], 3) == [2.0]


def test_half_width_is_a_quarter_decade_of_the_schedule():
    assert lf.half_width(1e-7, 10.0, 100) == 3   # 99 steps over 8 decades: 12.4 a decade, a quarter is 3.1
    assert lf.half_width(1e-7, 10.0, 200) == 6   # 24.9 a decade: 6.2
    assert lf.half_width(1e-3, 1.0, 4) == 1      # 1 a decade: at least 1


def test_the_zero_phase_curve_has_no_lag_where_the_online_ema_lags_half_a_decade():
    lrs = lf.learning_rates(1e-7, 10.0, 100)
    x = np.log10(lrs)
    loss = 1.0 + (x + 1) ** 2  # a parabola in log lr, minimum at lr 0.1 (step 74.25: the grid's 74 is nearest)
    assert int(np.argmin(loss)) == 74
    assert int(np.argmin(lf.zero_phase(loss, lf.half_width(1e-7, 10.0, 100)))) == 74
    ema_min = int(np.argmin(lf.smooth(loss)))
    assert x[ema_min] - x[74] > 0.5  # the EMA's minimum, more than half a decade to the right


def _synthetic(steps=81):
    lrs = lf.learning_rates(1e-6, 1e2, steps)  # log10 lr on a grid of 0.1
    x = np.log10(lrs)
    # steepest descent exactly at lr 1e-3 (tanh's centre); flat-then-rising right of 1e-1, minimum at lr 0.1
    loss = 2.0 - np.tanh(x + 3) + 5 * np.maximum(0.0, x + 1) ** 2
    return lrs, loss


def test_suggestion_is_the_steepest_descent_and_the_range_a_factor_of_three_below_it():
    lrs, loss = _synthetic()
    s = lf.suggest(lrs, loss, skip=8)
    assert s.min_lr == pytest.approx(0.1, rel=1e-9) and s.min_loss == pytest.approx(2.0 - math.tanh(2.0))
    assert s.lr == s.steepest_lr == s.upper == pytest.approx(1e-3, rel=1e-9)
    assert s.lower == pytest.approx(1e-3 / 3, rel=1e-9) and s.note == ""


def test_the_steepest_descent_is_looked_for_after_the_first_tenth():
    lrs, loss = _synthetic()
    early = loss.copy()
    early[1] -= 0.5  # a noisy dip at step 1 makes the slope at step 0 steeper than the real descent …
    assert lf.suggest(lrs, early).lr == pytest.approx(lrs[0])
    assert lf.suggest(lrs, early, skip=8).lr == pytest.approx(1e-3, rel=1e-9)  # … and is skipped


def test_a_curve_that_never_falls_says_to_start_lower():
    lrs = lf.learning_rates(1e-3, 1.0, 4)
    s = lf.suggest(lrs, [1.0, 2.0, 4.0, 8.0])
    assert (s.min_lr, s.lr) == (1e-3, 1e-3) and "try a smaller --start" in s.note
    assert lf.suggest(lrs, [1.0, math.nan]).lr is None


def test_median_treats_a_stopped_seed_as_blown_up():
    med = lf.median_curve([[3.0, 2.0, 1.0, 1.0], [3.0, 2.0], [5.0, 4.0, 3.0, 2.0]], 4)
    np.testing.assert_allclose(med, [3.0, 2.0, 3.0, 2.0])  # median of (1, inf, 3) = 3
    med = lf.median_curve([[3.0, 2.0], [3.0, 2.0, 1.0]], 3)
    assert np.isnan(med[2])  # of two seeds, one stopped: the median is no longer finite


def test_real_quick_run_on_digits_stores_one_run_per_seed():
    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=60, check_steps=0)
    with Store(":memory:") as store:
        result, experiment_id = lf.run(spec, store=store)
        s = result.suggestion
        assert spec.start <= s.lower < s.upper <= spec.end
        assert [c.seed for c in result.curves] == [0, 1]
        assert result.curves[0].losses != result.curves[1].losses  # different init and data order
        runs = store.runs(experiment_id)
        assert store.experiment(experiment_id).kind == "lr-find" and len(runs) == 2
        steps = store.steps(runs[0].id)
        assert len(steps) == len(result.curves[0].lrs)
        assert set(steps[0]) == {"step", "lr", "loss"} and steps[0]["step"] == 0
        assert [st["lr"] for st in steps] == lf.learning_rates(spec.start, spec.end, spec.steps)[:len(steps)]
        assert load(store, experiment_id).suggestion == s  # the store is enough to rebuild it
        again, same_id = lf.run(spec, store=store)  # the same spec resumes: nothing is trained again
        assert same_id == experiment_id and len(store.runs(experiment_id)) == 2 and again.suggestion == s


# --- the check: short runs at constant rates around the range test's suggestion ---------------------------------

def test_check_score_is_the_mean_of_the_last_quarter_and_a_run_cut_short_is_infinite():
    losses = [4.0, 3.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1]
    assert lf.check_score(losses, 8) == pytest.approx((0.2 + 0.1) / 2)  # ceil(8 / 4) = 2 updates
    assert lf.check_score(losses[:7], 7) == pytest.approx((0.3 + 0.2) / 2)  # ceil(7 / 4) = 2
    assert lf.check_score(losses[:5], 8) == math.inf  # it stopped (diverged) before its 8 updates
    assert lf.check_score([1.0, math.nan, 1.0, 1.0], 4) == math.inf


def test_the_check_picks_the_lowest_loss_averaged_with_its_neighbours():
    rates = [1.0, 2.0, 3.0, 4.0, 5.0]
    # rate 2 alone is the lowest, but its neighbours are bad; rate 4 sits in the best neighbourhood; an end rate
    # stands in for its missing neighbour
    scores = [[3.0], [0.5, 0.7], [1.2], [0.9], [1.0]]
    checked, pick = lf.check(rates, scores)
    assert [c.mean for c in checked] == pytest.approx([3.0, 0.6, 1.2, 0.9, 1.0])
    assert [c.smoothed for c in checked] == pytest.approx([(6 + 0.6) / 3, 1.6, 0.9, 3.1 / 3, 2.9 / 3])
    assert pick == 2
    assert lf.check(rates[:4], [[1.0], [2.0], [2.0], [1.0]])[1] == 0  # a tie goes to the lower rate
    assert lf.check(rates, [[math.inf]] * 5)[1] is None  # every rate diverged: nothing to pick
    # only isolated rates survive (each next to a diverged one): the lowest plain mean
    assert lf.check(rates, [[0.9], [math.inf], [0.7], [math.inf], [math.inf]])[1] == 2


def _plan_losses(best_j: float, anchor: float, steps: int, js=range(-12, 13)):
    """Per rate of a wide grid, one seed's losses: constant, lowest at ``anchor · 10^(best_j / 4)``."""
    return {r: [[1.0 + (j - best_j) ** 2] * steps] for j in js for r in [anchor * 10 ** (j / 4)]}


def test_the_check_adds_rates_beyond_a_picked_end_rate_at_most_twice_a_side():
    anchor, steps = 0.01, 8
    missing, checked, pick = lf.check_plan(anchor, {}, steps)
    assert missing == pytest.approx(lf.check_rates(anchor)) and len(missing) == 7 and not checked
    # the best lies 1 step above the anchor: no extension
    missing, checked, pick = lf.check_plan(anchor, _plan_losses(1, anchor, steps), steps)
    assert not missing and len(checked) == 7 and checked[pick].lr == pytest.approx(anchor * 10 ** 0.25)
    # 5 steps above: the first pick is the top rate, so 3 more are added and the pick is interior
    missing, checked, pick = lf.check_plan(anchor, _plan_losses(5, anchor, steps), steps)
    assert len(checked) == 10 and checked[pick].lr == pytest.approx(anchor * 10 ** (5 / 4))
    # 20 steps below: extended twice downwards (−9 … 3), then it stops at the lowest
    missing, checked, pick = lf.check_plan(anchor, _plan_losses(-20, anchor, steps), steps)
    assert len(checked) == 13 and pick == 0 and checked[0].lr == pytest.approx(anchor * 10 ** (-9 / 4))
    # every rate diverges: rates below are added, twice, and then nothing can be picked
    diverging = {r: [[math.inf] * steps] for j in range(-12, 13) for r in [anchor * 10 ** (j / 4)]}
    missing, checked, pick = lf.check_plan(anchor, diverging, steps)
    assert len(checked) == 13 and pick is None and checked[0].lr == pytest.approx(anchor * 10 ** (-9 / 4))
    # rates from 5 steps below the anchor up diverge, the best lies 7 below: found by going down twice
    fine = {r: [[2.0 + (j + 7) ** 2 / 100] * steps if j <= -5 else [math.inf] * steps] for j in range(-12, 13)
            for r in [anchor * 10 ** (j / 4)]}
    missing, checked, pick = lf.check_plan(anchor, fine, steps)
    assert len(checked) == 13 and checked[pick].lr == pytest.approx(anchor * 10 ** (-7 / 4))
    # every rate gives the very same loss (an optimizer that ignores its lr): no rates added, the lowest picked
    same = {r: [[2.3068] * steps] for j in range(-12, 13) for r in [anchor * 10 ** (j / 4)]}
    missing, checked, pick = lf.check_plan(anchor, same, steps)
    assert not missing and len(checked) == 7 and pick == 0
    # what it asks for when the extension has not run yet
    partial = {r: v for r, v in _plan_losses(5, anchor, steps, range(-3, 4)).items()}
    missing, checked, pick = lf.check_plan(anchor, partial, steps)
    assert missing == pytest.approx(lf.check_rates(anchor, 4, 6)) and not checked


def test_the_checked_suggestion_is_the_pick_with_the_range_reaching_down_from_it():
    ranged = lf.suggest(lf.learning_rates(1e-5, 1e1, 61), np.linspace(2.0, 1.0, 61))
    checked, pick = lf.check([0.1, 0.2, 0.4, 0.8], [[1.0], [0.5], [0.6], [1.5]])
    s = lf.checked_suggestion(ranged, checked, pick)
    assert s.checked and s.lr == 0.2 and s.upper == 0.2 and s.lower == pytest.approx(0.2 / 3)
    assert s.steepest_lr == ranged.steepest_lr and s.note == ""
    edge = lf.checked_suggestion(ranged, *lf.check([0.1, 0.2, 0.4], [[1.0], [0.5], [0.1]]))
    assert edge.lr == 0.4 and "highest rate checked" in edge.note
    none = lf.checked_suggestion(ranged, *lf.check([0.1, 0.2], [[math.inf], [math.inf]]))
    assert not none.checked and none.lr == ranged.lr and "diverged" in none.note


@pytest.mark.parametrize("bad", [1, 2, 3, -1, True, 2.5])
def test_bad_check_steps_are_user_errors(bad):
    with pytest.raises(UserError, match="--check-steps"):
        lf.LRFindSpec("digits-mlp", "adam", check_steps=bad).resolve()


def test_real_check_on_digits_is_stored_picked_as_documented_and_resumed():
    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=60, check_steps=40)
    with Store(":memory:") as store:
        result, experiment_id = lf.run(spec, store=store)
        s, anchor = result.suggestion, result.range_test.lr
        assert s.checked and s.steepest_lr == anchor and not result.to_check
        runs = store.runs(experiment_id)
        checks = [r for r in runs if r.config["schedule"] is None]
        assert len(runs) == 2 + len(checks) and len(checks) == 2 * len(result.checked) >= 14
        assert [c.lr for c in result.checked] == sorted(c.lr for c in result.checked)
        for c in result.checked:  # each score is the mean of the last quarter (10 updates) of a stored run
            stored = sorted((r for r in checks if r.config["hyperparameters"]["lr"] == c.lr), key=lambda r: r.seed)
            assert [r.seed for r in stored] == [0, 1]
            for r, score in zip(stored, c.scores, strict=True):
                losses = [st["loss"] for st in store.steps(r.id)]
                assert score == (math.inf if len(losses) < 40 else pytest.approx(np.mean(losses[-10:])))
        best = min(result.checked, key=lambda c: c.smoothed)
        assert s.lr == best.lr and s.upper == s.lr and s.lower == pytest.approx(s.lr / 3)
        assert load(store, experiment_id).suggestion == s  # the store is enough to rebuild it
        again, same_id = lf.run(spec, store=store)  # resumed: nothing trained again
        assert same_id == experiment_id and len(store.runs(experiment_id)) == len(runs) and again.suggestion == s
    alone, _ = lf.run(spec)  # without a store: the same numbers
    assert alone.suggestion == s and alone.checked == result.checked


def test_the_check_steps_default_is_one_number_everywhere():
    import inspect

    import descentlab
    from descentlab.cli import lr_find as cli

    assert lf.CHECK_STEPS == lf.LRFindSpec.check_steps == cli.CHECK_STEPS_DEFAULT
    assert inspect.signature(descentlab.lr_find).parameters["check_steps"].default == lf.CHECK_STEPS


def test_a_rate_with_a_seed_still_to_run_is_still_to_run():
    """A rate some of whose seeds have not finished (an interrupted check) is not scored on the others: it is run
    again, so that a resumed check scores every rate on all its seeds, as an uninterrupted one."""
    anchor, steps = 0.01, 8
    losses = _plan_losses(1, anchor, steps, range(-3, 4))
    two = {r: v * 2 for r, v in losses.items()}
    top = max(two)
    two[top] = two[top][:1]  # its second seed did not finish
    missing, checked, _ = lf.check_plan(anchor, two, steps, seeds=2)
    assert missing == [top] and not checked
    assert not lf.check_plan(anchor, two, steps)[0]  # without a number of seeds: any finished seed counts


def test_a_check_interrupted_in_a_rate_s_last_seed_is_finished_when_the_command_is_run_again():
    """Ctrl-C in the last run of the check (the other seed of its rate finished), then the same spec again: the
    interrupted run is trained, no finished run again, and the result is the uninterrupted one."""
    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=30, check_steps=8)
    calls: list[int] = []
    reference, _ = lf.run(spec, on_step=calls.append)

    count = iter(range(len(calls)))

    def interrupt(step: int) -> None:
        if next(count) == len(calls) - spec.check_steps // 2:  # halfway through the last run
            raise KeyboardInterrupt

    with Store(":memory:") as store:
        with pytest.raises(KeyboardInterrupt):
            lf.run(spec, store=store, on_step=interrupt)
        before = {r.id: r.finished_at for r in store.runs(1) if r.status == "completed"}
        assert [r.status for r in store.runs(1)][-2:] == ["completed", "failed"]
        partial = load(store, 1)
        assert partial.to_check and not partial.suggestion.checked  # the report says the check is unfinished
        again, experiment_id = lf.run(spec, store=store)
        runs = store.runs(experiment_id)
        assert experiment_id == 1 and all(r.status == "completed" for r in runs)
        assert len(runs) == spec.seeds * (1 + len(reference.checked))
        assert {r.id: r.finished_at for r in runs if r.id in before} == before  # none trained again
    assert again.checked == reference.checked and again.suggestion == reference.suggestion


def test_a_check_whose_rates_all_give_the_same_loss_says_the_rate_made_no_difference():
    """torch's LBFGS from a ramp that began at 1e-7: every checked rate gave the very same loss, the tie went to the
    lowest, twice extended downwards, and 5.6e-10 was suggested with only 'the best rate may lie beyond it'."""
    ranged = lf.suggest(lf.learning_rates(1e-5, 1e1, 61), np.linspace(2.0, 1.0, 61))
    flat = lf.checked_suggestion(ranged, *lf.check([0.1, 0.2, 0.4], [[2.3068], [2.3068], [2.3068]]))
    assert flat.lr == 0.1 and ("every checked rate gave the same training loss: the rate made no difference in "
                               "these short runs") in flat.note
    sloped = lf.checked_suggestion(ranged, *lf.check([0.1, 0.2, 0.4], [[2.3068], [2.3067], [2.3068]]))
    assert "no difference" not in sloped.note


def test_every_update_is_planned_before_it_runs_and_a_resumed_check_plans_only_what_is_missing():
    spec = lf.LRFindSpec("digits-mlp", "sgd", seeds=1, steps=30, check_steps=8)
    planned, done = [], []
    with Store(":memory:") as store:
        lf.run(spec, store=store, on_step=lambda k: done.append(k), on_plan=planned.append)
        assert planned[0] == 30 and all(n % 8 == 0 for n in planned[1:]) and sum(planned[1:]) >= 7 * 8
        assert len(done) <= sum(planned) and len(done) - 30 == sum(planned[1:])  # the check's runs all run through
        again = []
        lf.run(spec, store=store, on_plan=again.append)
        assert sum(again) == 0  # resumed: nothing left to train
    alone = []
    lf.run(spec, on_plan=alone.append)
    assert alone == planned


def test_muon_s_range_test_ramps_lr_alone_its_adamw_half_keeps_adamw_lr():
    """The range test ramps ``lr`` from ``start``; Muon's AdamW half (adamw_lr follows a schedule relative to the lr
    the optimizer was built with) must not be scaled by lr / start (×10⁸ at the end), which made the test measure
    the AdamW half's blow-up (digits-mlp: a suggestion of 4e-5 instead of 0.2), and the check's constant-rate runs,
    and the sweep it proposes, keep adamw_lr too."""
    import torch

    from descentlab import optim
    from descentlab.tasks import get_task

    spec = lf.LRFindSpec("digits-mlp", "muon", seeds=1, steps=20, check_steps=0)
    (config,) = lf.configs(spec, get_task("digits-mlp"), 1000)
    vector = torch.zeros(3, requires_grad=True)  # not a matrix: the AdamW half's
    ramped = optim.create(config.optimizer, [vector], **config.hyperparameters)
    plain = torch.zeros(3, requires_grad=True)
    constant = optim.create(config.optimizer, [plain], **{**config.hyperparameters, "lr": 0.02})
    for k in range(spec.steps):
        for g in ramped.param_groups:
            g["lr"] = config.schedule(k)  # as the trainers write a schedule's lr before the update
        vector.grad = torch.full((3,), 1.0 + k)
        plain.grad = torch.full((3,), 1.0 + k)
        ramped.step()
        constant.step()
    assert torch.equal(vector, plain)


def test_a_check_finished_by_another_lr_find_between_its_read_and_its_open_is_read_again(tmp_path, monkeypatch):
    """Two lr-finds of one spec on one store: when the other finishes the check's runs after this one read the
    check as unfinished and before it opens them, nothing is left to run here; this one reads the store again
    and answers what one alone does, instead of 'the check has not finished' (a CI failure of stop 22)."""
    from descentlab.experiments import runner

    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=30, check_steps=8)
    reference, _ = lf.run(spec)
    real_open = runner.open_experiment
    others: list[lf.LRFindResult | None] = []

    def open_after_the_other_finished(store, kind, spec_dict, configs, **kwargs):
        if len(configs) > spec.seeds and not others:  # this one's first check round: the other runs to the end
            others.append(None)
            with Store(tmp_path / "runs.sqlite") as other:
                others[0] = lf.run(spec, store=other)[0]
        return real_open(store, kind, spec_dict, configs, **kwargs)

    monkeypatch.setattr(runner, "open_experiment", open_after_the_other_finished)
    with Store(tmp_path / "runs.sqlite") as store:
        result, experiment_id = lf.run(spec, store=store)
        runs = store.runs(experiment_id)
    assert others and others[0].suggestion == reference.suggestion
    assert not result.to_check and result.suggestion == reference.suggestion and result.checked == reference.checked
    assert len(runs) == len({r.trial_key for r in runs}) == spec.seeds * (1 + len(reference.checked))


def test_a_range_test_seed_that_failed_is_not_retrained_by_the_check_but_by_the_next_command(tmp_path, monkeypatch):
    """Seed 1's range test raises once: the check's rounds leave it failed (retrained with the check's options it
    was stored as a finished range test of check_steps updates); the same command again trains it as a range test
    and then answers what an uninterrupted lr-find does."""
    from descentlab.experiments import runner

    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=30, check_steps=8)
    reference, _ = lf.run(spec)
    real_train, failed = runner.train, []

    def train_failing_once(config, **kwargs):
        if config.schedule is not None and config.seed == 1 and not failed:
            failed.append(kwargs.get("max_steps"))
            raise RuntimeError("boom once")
        return real_train(config, **kwargs)

    monkeypatch.setattr(runner, "train", train_failing_once)
    with Store(tmp_path / "runs.sqlite") as store:
        first, experiment_id = lf.run(spec, store=store)
        tests = [r for r in store.runs(experiment_id) if r.config["schedule"] is not None]
        assert failed == [30] and [(r.seed, r.status) for r in tests] == [(0, "completed"), (1, "failed")]
        again, same = lf.run(spec, store=store)
        tests = [r for r in store.runs(same) if r.config["schedule"] is not None]
        assert same == experiment_id and [r.status for r in tests] == ["completed", "completed"]
        assert [len(store.steps(r.id)) for r in tests] == [30, 30]
    assert again.suggestion == reference.suggestion and again.checked == reference.checked


@pytest.mark.parametrize("which", ["range test", "check"])
def test_without_a_store_a_run_whose_code_raises_is_an_error_of_the_call(monkeypatch, which):
    from descentlab.experiments import runner

    real_train = runner.train

    def raising(config, **kwargs):
        if (config.schedule is None) == (which == "check") and config.seed == 1:
            raise ValueError("the optimizer broke")
        return real_train(config, **kwargs)

    monkeypatch.setattr(runner, "train", raising)
    spec = lf.LRFindSpec("digits-mlp", "adam", seeds=2, steps=30, check_steps=8)
    expected = r"lr-find's check at lr [0-9.e-]+ failed" if which == "check" else "lr-find's range test, seed 1 failed"
    with pytest.raises(RuntimeError, match=expected + ".*the optimizer broke"):
        lf.run(spec)
