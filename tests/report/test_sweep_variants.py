"""A sweep of one optimizer in several variants (``--momentum 0.8,0.9``): each variant is summarized, chosen,
plotted and tabled on its own, never averaged with the other."""

from __future__ import annotations

import pytest

from descentlab.report import html, plots, style, summary
from descentlab.report.data import load
from descentlab.store import Store
from tests.report import synthetic as syn

LRS = (0.01, 0.1)
VAL = {(0.8, 0.01): 0.70, (0.8, 0.1): 0.85, (0.9, 0.01): 0.80, (0.9, 0.1): 0.60}  # the variants disagree on lr


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("variants") / "runs.sqlite") as store:
        exp = store.create_experiment("sweep", {"task": "mnist1d-mlp", "grid": {"momentum": [0.8, 0.9]}}, syn.ENV)
        for momentum in (0.8, 0.9):
            for lr in LRS:
                for seed in (0, 1):
                    hp = {"lr": lr, "momentum": momentum, "weight_decay": 0.0}
                    rows = syn.epochs_of("sgd", seed, VAL[momentum, lr] + 0.01 * seed, 0.5, 3)
                    syn._record(store, exp, syn._config("mnist1d-mlp", "sgd", hp, 3, 32, seed), rows)
        return load(store, exp)


def test_each_variant_has_its_own_points_and_choice(sweep):
    found = {s.label: s for s in summary.sweep_summaries(sweep)}
    assert list(found) == ["sgd (momentum=0.8)", "sgd (momentum=0.9)"]
    low, high = found["sgd (momentum=0.8)"], found["sgd (momentum=0.9)"]
    assert (low.best_lr, high.best_lr) == (0.1, 0.01)
    assert low.best_val_acc.mean == pytest.approx(0.855) and high.best_val_acc.mean == pytest.approx(0.805)
    assert all(p.n_runs == 2 for p in low.points + high.points)  # two seeds each, not four
    assert (low.trials, low.runs) == (2, 4)
    assert low.holds(sweep.runs[0]) and not high.holds(sweep.runs[0])


def test_one_variant_needs_no_label(experiments):
    assert [s.label for s in summary.sweep_summaries(experiments[1])] == ["sgd", "adam"]


def test_report_curves_and_tables_follow_each_variants_choice(sweep):
    report = html.build_report(sweep, figures=False)
    tuning = next(t for t in report.tables if t.title.startswith("Tuning"))
    assert [(row[0], row[5]) for row in tuning.rows] == [("sgd (momentum=0.8)", "0.1"), ("sgd (momentum=0.9)", "0.01")]
    assert tuning.note.endswith(  # each variant's choice is an edge of its two-rate grid
        "reported; warning: sgd (momentum=0.8): chosen lr 0.1 is the top of the grid 0.01..0.1: widen --lr; "
        "warning: sgd (momentum=0.9): chosen lr 0.01 is the bottom of the grid 0.01..0.1: widen --lr")
    best = html._best_runs(sweep, report.sweeps)
    assert sorted((r.hyperparameters["momentum"], r.lr) for r in best) == [(0.8, 0.1)] * 2 + [(0.9, 0.01)] * 2
    fig = plots.lr_sensitivity(report.sweeps, colors=report.colors)
    lines = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    assert set(lines) == {"sgd (momentum=0.8)", "sgd (momentum=0.9)"} and len(set(lines.values())) == 2


def test_new_names_never_take_a_given_colour():
    given = style.optimizer_colors(["sgd", "adam"])
    colors = style.with_colors(["sgd", "sgd · batch 1", "adam · batch 1", "adam"], given)
    assert colors["sgd"] == given["sgd"] and colors["adam"] == given["adam"]
    assert len(set(colors.values())) == 4


def test_summary_rows_and_colours_name_the_variant(sweep):
    report = html.build_report(sweep, figures=False)
    rows = next(t for t in report.tables if t.title == "Summary").rows
    assert [(r[0], r[2]) for r in rows] == [("sgd (momentum=0.8)", "0.01"), ("sgd (momentum=0.8)", "0.1"),
                                            ("sgd (momentum=0.9)", "0.01"), ("sgd (momentum=0.9)", "0.1")]
    low, high = report.colors["sgd (momentum=0.8)"], report.colors["sgd (momentum=0.9)"]
    assert low != high
    assert f'background:{low}"></span>sgd (momentum=0.8)</td>' in html.render_html(report)
