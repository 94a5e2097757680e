"""Per-update curves: compare logs every run's batch loss per update (thinned to at most 1000, evenly spaced, the
last kept) and the report plots them against the update and against epochs."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from descentlab.cli import main
from descentlab.report import html, plots
from descentlab.report.data import RunData, load
from descentlab.store import Store
from descentlab.store.store import Run
from descentlab.train.core import StepLog


def test_compare_logs_each_runs_updates_and_the_report_plots_them(tmp_path):
    store = tmp_path / "s.sqlite"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["compare", "--task", "digits-mlp", "--optimizers", "sgd", "--lr", "0.05", "--epochs", "1",
                     "--batch-size", "full,1,32", "--quiet", "--store", str(store)]) == 0
    with Store(store) as s:
        data = load(s, 1)
    by_batch = {r.batch_size: r for r in data.runs}
    n = by_batch[1].epochs[-1]["steps"]  # batch 1: one update per training example
    kept = [s["step"] for s in by_batch[1].steps]
    assert n > 1000 and len(kept) <= 1000 and kept == [k for k in range(n) if StepLog(n, 1000).keeps(k)]
    assert [s["step"] for s in by_batch["full"].steps] == [0]  # full batch: one update an epoch, logged
    assert len(by_batch[32].steps) == by_batch[32].epochs[-1]["steps"]  # fewer than 1000: every update
    first_32 = by_batch[32].steps[:by_batch[32].epochs[-1]["steps"]]
    sizes = [32] * (len(first_32) - 1) + [n - 32 * (len(first_32) - 1)]
    mean = sum(s["loss"] * b for s, b in zip(first_32, sizes)) / n
    assert abs(mean - by_batch[32].epochs[-1]["train_loss"]) < 1e-6  # the epoch's loss is the mean of the batches'
    report = html.build_report(data)
    figure = next(f for f in report.figures if f.title == "Training loss per update")
    updates, epochs, losses = plots.loss_points(by_batch[1])
    assert np.array_equal(updates, kept) and np.allclose(epochs, np.array(kept) / n)
    assert np.array_equal(losses, [s["loss"] for s in by_batch[1].steps])
    assert "Training loss per update" in html.render_html(report)
    assert figure.caption.startswith("The batch's training loss")


def _run_with_epochs(epochs: list[dict]) -> RunData:
    run = Run(1, 1, "k", "digits-mlp", "sgd", 0, {"batch_size": 32}, "completed", None, None, "t0", "t1")
    return RunData(run, epochs, [{"step": k, "lr": 0.1, "loss": 1.0} for k in range(30)])


def test_update_seconds_places_each_update_on_the_training_clock_linearly_within_its_epoch():
    run = _run_with_epochs([{"epoch": 0, "steps": 0, "elapsed": 0.0},
                            {"epoch": 1, "steps": 10, "elapsed": 2.0},
                            {"epoch": 2, "steps": 20, "elapsed": 6.0}])
    seconds = plots.update_seconds(run, np.array([0, 5, 10, 15, 19]))
    assert np.allclose(seconds, [0.0, 1.0, 2.0, 4.0, 5.6])  # epoch 2's updates cost 0.4 s each, epoch 1's 0.2 s
    assert np.isnan(plots.update_seconds(run, np.array([25]))).all()  # past the last stored epoch: not guessed
    no_clock = _run_with_epochs([{"epoch": 1, "steps": None, "elapsed": None}])
    assert np.isnan(plots.update_seconds(no_clock, np.array([0, 1]))).all()


def test_the_per_update_figure_has_an_axis_in_training_seconds():
    run = _run_with_epochs([{"epoch": 0, "steps": 0, "elapsed": 0.0},
                            {"epoch": 1, "steps": 15, "elapsed": 3.0},
                            {"epoch": 2, "steps": 30, "elapsed": 6.0}])
    fig = plots.loss_per_update([run])
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels == ["update (0-based)", "epoch", "training time (s, cumulative)"]
    xs = fig.axes[2].get_lines()[0].get_xdata()
    assert np.allclose(xs, np.arange(30) * 0.2)


def test_a_run_of_few_updates_stays_visible_beside_one_of_many():
    clock = [{"epoch": 0, "steps": 0, "elapsed": 0.0}, {"epoch": 1, "steps": 3000, "elapsed": 3.0}]
    many = _run_with_epochs(clock)
    many = RunData(many.run, many.epochs, [{"step": k, "lr": 0.1, "loss": 1.0} for k in range(0, 3000, 3)])
    few = RunData(Run(2, 1, "f", "digits-mlp", "adam", 0, {}, "completed", None, None, "t0", "t1"),
                  [{"epoch": 0, "steps": 0, "elapsed": 0.0}, {"epoch": 1, "steps": 10, "elapsed": 1.0}],
                  [{"step": k, "lr": 0.1, "loss": 2.0} for k in range(10)])
    fig = plots.loss_per_update([many, few])
    assert fig.axes[0].get_xscale() == "symlog"  # 10 updates beside 3000: a linear axis would hide the 10
    markers = {line.get_label(): line.get_marker() for line in fig.axes[0].get_lines()}
    assert markers["adam"] == "o" and markers["sgd"] in ("None", None, "")
