"""The report of experiments with learning-rate schedules: runs grouped and labelled by schedule, a learning rate
chosen per schedule in a sweep, and the plot of the lr actually used at each update."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab.experiments.compare import CompareSpec
from descentlab.experiments.executors import make_executor
from descentlab.experiments.runner import open_experiment
from descentlab.experiments.sweep import SweepSpec
from descentlab.report import html, plots
from descentlab.report.data import load
from descentlab.report.summary import group_labels, summarize, sweep_summaries
from descentlab.report.sweep import sweep_rows
from descentlab.store import Store
from descentlab.tasks import get_task

SCHEDULES = ("constant", "cosine(warmup_steps=0.2)")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    splits = get_task("digits-mlp").load()
    n = len(splits.y_train)
    compare = CompareSpec(task="digits-mlp", optimizers=("sgd", "adam"), epochs=2, batch_sizes=(128,), lr=0.05,
                          schedules=SCHEDULES)
    sweep = SweepSpec(task="digits-mlp", optimizers=("sgd",), lr_min=0.03, lr_max=0.3, points=2, epochs=2,
                      batch_size=128, schedules=SCHEDULES)
    with Store(tmp_path_factory.mktemp("schedules") / "s.sqlite") as s:
        for kind, spec in (("compare", compare), ("sweep", sweep)):
            configs = spec.configs(n_train=n)
            eid, todo, _ = open_experiment(s, kind, spec.to_dict(), configs)
            make_executor("local").run(todo, store=s, experiment_id=eid, splits=splits)
        yield s


def test_compare_groups_and_labels_runs_by_schedule(store) -> None:
    data = load(store, 1)
    assert [r.schedule for r in data.runs] == [*SCHEDULES, *SCHEDULES]
    groups = summarize(data)
    assert group_labels(groups) == ["sgd (constant)", "sgd (cosine(warmup_steps=0.2))", "adam (constant)",
                                    "adam (cosine(warmup_steps=0.2))"]
    report = html.build_report(data)
    assert report.tables[0].rows[1][0] == "sgd (cosine(warmup_steps=0.2))"
    budget, hyper = report.tables[1], report.tables[2]
    assert [row[:3] for row in budget.rows] == [("sgd", "2", "2"), ("adam", "2", "2")]  # a schedule is a configuration
    assert [row[0] for row in hyper.rows] == group_labels(groups)
    titles = [f.title for f in report.figures]
    assert titles.index("Learning-rate schedule") == titles.index("Loss and accuracy vs epoch") + 1
    page = html.render_html(report)
    assert "Learning-rate schedule" in page and "adam (cosine(warmup_steps=0.2))" in page


def test_the_schedule_plot_draws_the_lr_of_each_logged_update(store) -> None:
    data = load(store, 1)
    cosine = data.runs[1]
    updates = 2 * -(-len(get_task("digits-mlp").load().y_train) // 128)
    assert [s["step"] for s in cosine.steps] == list(range(updates))  # fewer than 1000: every update
    fig = plots.lr_schedules(data.runs, by=lambda r: f"{r.optimizer} ({r.schedule})")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    # sgd and adam ran at the same lr: one line per schedule, naming both
    assert set(lines) == {f"sgd ({s}) = adam ({s})" for s in SCHEDULES}
    drawn = lines["sgd (cosine(warmup_steps=0.2)) = adam (cosine(warmup_steps=0.2))"]
    assert np.array_equal(drawn.get_xdata(), np.arange(updates))
    assert np.allclose(drawn.get_ydata(), [s["lr"] for s in cosine.steps])
    assert drawn.get_ydata()[0] == 0.0 and max(drawn.get_ydata()) == pytest.approx(0.05)
    assert np.allclose(lines["sgd (constant) = adam (constant)"].get_ydata(), 0.05)
    sweep = load(store, 2).runs  # peaks 0.03 and 0.3: a line each
    assert len(plots.lr_schedules(sweep, by=lambda r: f"{r.schedule} at {r.lr}").axes[0].get_lines()) == 4


def test_a_sweep_chooses_a_learning_rate_per_schedule(store) -> None:
    data = load(store, 2)
    summaries = sweep_summaries(data)
    assert [s.label for s in summaries] == ["sgd (constant)", "sgd (cosine(warmup_steps=0.2))"]
    assert all([p.lr for p in s.points] == [0.03, 0.3] and s.best_lr is not None for s in summaries)
    assert [r.label for r in sweep_rows(data)] == [s.label for s in summaries]
    report = html.build_report(data, figures=False)
    assert [row[0] for row in report.tables[1].rows] == [s.label for s in summaries]
