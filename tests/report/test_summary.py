"""Summary numbers against hand computation on the synthetic store (tests/report/synthetic.py)."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from descentlab.report import summary, tables
from descentlab.report.summary import Stat, format_bytes
from tests.report import synthetic as syn


def _by_optimizer(groups):
    return {g.optimizer: g for g in groups}


def test_stat_is_mean_and_sample_std_over_finite_values():
    s = Stat.of([0.8, 0.9, math.nan, 1.0])
    assert (s.mean, s.n) == (pytest.approx(0.9), 3)
    assert s.std == pytest.approx(0.1)
    assert Stat.of([0.5]).std == 0.0
    assert Stat.of([math.nan]).n == 0
    assert Stat.of([]).format() == "–"
    assert Stat(0.9123, 0.0046, 3).format(".1f", scale=100, unit="%") == "91.2 ± 0.5 %"


def test_group_summaries_match_hand_computation(experiments):
    compare, _, _ = experiments
    groups = _by_optimizer(summary.summarize(compare))
    assert list(groups) == list(syn.OPTIMIZERS)
    adam = groups["adam"]
    assert adam.n_runs == 3 and adam.seeds == (0, 1, 2) and adam.diverged == 0 and adam.batch_size == 32
    assert adam.hyperparameters == syn.HYPERPARAMETERS["adam"]
    assert adam.final_val_acc.mean == pytest.approx(0.91)
    assert adam.final_val_acc.std == pytest.approx(0.01)
    assert adam.final_test_acc.mean == pytest.approx(0.89)
    assert adam.final_train_loss.mean == pytest.approx(0.305)
    assert adam.final_train_loss.std == pytest.approx(0.005)
    secs = [1.5 * (1 + 0.1 * s) for s in syn.SEEDS]
    assert adam.seconds_per_epoch.mean == pytest.approx(statistics.fmean(secs))
    assert adam.seconds_per_epoch.std == pytest.approx(statistics.stdev(secs))
    assert adam.steps_per_s.mean == pytest.approx(statistics.fmean(100 / s for s in secs))
    assert adam.state_bytes.mean == syn.STATE_BYTES["adam"]
    assert adam.peak_memory_bytes.n == 0


def _first_epoch_reaching(final: float, target: float, epochs: int) -> int | None:
    return next((e for e in range(1, epochs + 1) if syn.val_acc(final, e, epochs) >= target), None)


def test_time_to_target_counts_seeds_that_reached_it(experiments):
    compare, _, _ = experiments
    groups = _by_optimizer(summary.summarize(compare))
    for opt, g in groups.items():
        assert g.target == syn.TARGET
        hits = [(s, _first_epoch_reaching(syn.final_val(opt, s), syn.TARGET, syn.EPOCHS)) for s in syn.SEEDS]
        hits = [(s, e) for s, e in hits if e is not None and (opt, s) != syn.DIVERGED]
        assert g.reached == len(hits)
        assert g.epochs_to_target.mean == pytest.approx(statistics.fmean(e for _, e in hits))
        secs = [e * syn.SECONDS[opt] * (1 + 0.1 * s) for s, e in hits]
        assert g.seconds_to_target.mean == pytest.approx(statistics.fmean(secs))
    assert summary.summarize(compare, target=0.99)[0].reached == 0


def test_diverged_runs_are_counted_not_averaged(experiments):
    compare, _, _ = experiments
    rmsprop = _by_optimizer(summary.summarize(compare))["rmsprop"]
    assert (rmsprop.n_runs, rmsprop.completed, rmsprop.diverged) == (3, 2, 1)
    assert rmsprop.final_val_acc.n == 2
    assert rmsprop.final_val_acc.mean == pytest.approx(statistics.fmean([0.88, 0.90]))
    assert rmsprop.final_val_acc.std == pytest.approx(statistics.stdev([0.88, 0.90]))
    assert rmsprop.best_val_acc.n == 3  # the diverged run's best epoch before it diverged counts


def test_sweep_chooses_lr_on_validation_and_reports_budget(experiments):
    _, sweep, _ = experiments
    sweeps = {s.optimizer: s for s in summary.sweep_summaries(sweep)}
    sgd, adam = sweeps["sgd"], sweeps["adam"]
    assert (sgd.trials, sgd.runs, adam.trials, adam.runs) == (5, 15, 4, 12)
    assert [p.lr for p in sgd.points] == sorted(syn.SWEEP_LRS["sgd"])
    assert sgd.best_lr == 0.1 and adam.best_lr == 0.001
    assert sgd.best_val_acc.mean == pytest.approx(0.84 + 0.01)
    assert sgd.test_acc_at_best.mean == pytest.approx(0.84 + 0.01 - 0.02)
    assert sgd.test_acc_at_best.std == pytest.approx(0.01)
    diverged = adam.points[-1]
    assert (diverged.lr, diverged.diverged, diverged.val_acc.n) == (1.0, 3, 0)


def test_the_lr_of_a_diverged_point_is_not_chosen_while_a_clean_one_exists(experiments):
    _, sweep, _ = experiments
    runs = [r for r in sweep.runs if r.optimizer == "sgd"]
    # pretend one seed at the best lr (0.1) diverged: the next best clean lr (0.3) is chosen
    import dataclasses
    bumped = [dataclasses.replace(r, run=dataclasses.replace(r.run, status="diverged"))
              if (r.lr, r.seed) == (0.1, 0) else r for r in runs]
    assert summary.sweep_summaries(bumped)[0].best_lr == 0.3


def test_a_chosen_lr_at_the_edge_of_the_grid_is_warned_about(experiments):
    import dataclasses

    _, sweep, _ = experiments
    sgd = next(s for s in summary.sweep_summaries(sweep) if s.optimizer == "sgd")  # grid 0.001..1, chose 0.1
    assert summary.edge_warning(sgd) is None
    top, bottom = dataclasses.replace(sgd, best_lr=1.0), dataclasses.replace(sgd, best_lr=0.001)
    assert summary.edge_warning(top) == "sgd: chosen lr 1 is the top of the grid 0.001..1: widen --lr"
    assert summary.edge_warning(bottom, "sgd (momentum=0.9)") == (
        "sgd (momentum=0.9): chosen lr 0.001 is the bottom of the grid 0.001..1: widen --lr")
    one = dataclasses.replace(sgd, points=sgd.points[2:3])  # a single rate was swept: no grid to widen
    assert summary.edge_warning(one) is None and summary.edge_warning(dataclasses.replace(sgd, best_lr=None)) is None
    note = tables.tuning_table([sgd, top]).note
    assert note.endswith("reported; warning: sgd: chosen lr 1 is the top of the grid 0.001..1: widen --lr")
    assert "warning" not in tables.tuning_table([sgd, top], warnings=False).note


def test_batch_sizes_are_separate_groups(experiments):
    _, _, batches = experiments
    groups = summary.summarize(batches)
    assert [g.batch_size for g in groups] == list(syn.BATCH_SIZES)
    assert groups[0].final_val_acc.mean == pytest.approx(0.91 - 0.2)


def test_tables_are_text(experiments):
    compare, sweep, _ = experiments
    t = tables.summary_table(summary.summarize(compare))
    assert len(t.rows) == 4 and all(isinstance(c, str) for row in t.rows for c in row)
    assert t.rows[2][5] == "91.0 ± 1.0 %"
    assert tables.diverged_table(compare).rows[0][1:7] == ("rmsprop", "1", "batch 32", "0.001", "diverged", "530")
    assert [r[5] for r in tables.tuning_table(summary.sweep_summaries(sweep)).rows] == ["0.1", "0.001"]
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(12) == "12 B" and format_bytes(None) == "–"


def test_timings_of_a_shared_pass_are_marked(experiments):
    import dataclasses

    compare, _, _ = experiments
    runs = [dataclasses.replace(r, epochs=[{**e, "shared_by": 3} for e in r.epochs]) if r.optimizer == "adam" else r
            for r in compare.runs]
    groups = summary.summarize(runs)
    assert [g.shared_by for g in groups] == [1, 1, 3, 1]
    t = tables.summary_table(groups)
    assert t.rows[2][10].endswith(" (pass of 3)") and "(pass of" not in t.rows[0][10]
    alone = tables.summary_table(summary.summarize(compare))
    assert "vectorized pass" in t.note and "vectorized pass" not in alone.note


def test_the_target_is_read_from_the_store_never_from_the_task_registry(experiments):
    compare, _, _ = experiments
    assert summary.target_of(compare) == syn.TARGET
    # A store written before targets were stored: no target (no time to target), not the task's current one.
    old = dataclasses.replace(compare, experiment=dataclasses.replace(
        compare.experiment, spec={k: v for k, v in compare.experiment.spec.items() if k != "target_val_acc"}))
    assert old.tasks == ["mnist1d-mlp"] and summary.target_of(old) is None
    groups = summary.summarize(old)
    assert all(g.target is None and g.reached == 0 for g in groups)
    table = tables.summary_table(groups)
    column = table.headers.index("epochs to target")
    assert {row[column] for row in table.rows} == {"–"}


def test_compare_and_sweep_specs_store_the_tasks_target():
    from descentlab.experiments.compare import CompareSpec
    from descentlab.experiments.sweep import SweepSpec
    from descentlab.tasks import get_task

    target = get_task("digits-mlp").target_val_acc
    assert CompareSpec(task="digits-mlp").to_dict()["target_val_acc"] == target
    assert SweepSpec(task="digits-mlp").to_dict()["target_val_acc"] == target
