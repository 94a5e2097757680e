"""Traced paths shown: the iteration log, the summary table and the contour picture."""

import math

import numpy as np
import pytest

from descentlab.experiments import trace as search
from descentlab.report import trace as tr
from descentlab.tasks.functions import get_function


def test_the_tutorials_first_iterations():
    (t,) = search.trace(get_function("square"), ["sgd"], steps=3, lr=0.1)
    assert tr.iteration_lines(t) == ["Iteration 1: x = 2.4, f(x) = 5.76", "Iteration 2: x = 1.92, f(x) = 3.6864",
                                     "Iteration 3: x = 1.536, f(x) = 2.3593"]


def test_two_dimensional_iterations_show_both_coordinates():
    (t,) = search.trace(get_function("quadratic"), ["sgd"], steps=1, lr=0.01, start=(1.0, 1.0))
    assert tr.iteration_lines(t) == ["Iteration 1: x = (0.99, 0.75), f(x) = 7.5213"]


def test_a_diverged_run_is_cut_at_its_first_non_finite_point_and_reported():
    f = get_function("rosenbrock")
    t = search.run(f, "sgd", 1.0, 50)
    assert t.diverged and t.final_value == math.inf and np.isfinite(t.positions).all()
    assert "diverged" in t.label
    fig = tr.plot_paths(f, [t])  # still drawable
    assert len(fig.legends[0].get_texts()) == 2


@pytest.mark.parametrize("name", ["rosenbrock", "square", "saddle"])
def test_the_figure_has_one_labelled_path_per_optimizer(name):
    f = get_function(name)
    traced = search.trace(f, ["sgd", "momentum", "adam"], steps=20, lr=1e-3)
    fig = tr.plot_paths(f, traced)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["sgd (lr=0.001)", "momentum (lr=0.001)", "adam (lr=0.001)", "start"]
    (ax,) = fig.axes
    paths = [line for line in ax.get_lines() if line.get_label() in labels[:3]]
    assert len(paths) == 3
    for line, t in zip(paths, traced):
        x, y = line.get_data()
        assert len(x) == 21
        expected = t.values if f.dim == 1 else t.positions[:, 1]
        assert np.allclose(y, expected)


def test_the_table_has_a_row_per_optimizer():
    f = get_function("square")
    table = tr.summary_table(f, search.trace(f, ["sgd", "adam"], steps=40, lr=0.1))
    assert len(table.rows) == 2
    assert list(table.headers[:4]) == ["optimizer", "lr", "final x", "final f"]
    assert [row[4] for row in table.rows] == ["36", "—"]


def test_verbose_lines_show_the_start_then_gradient_and_update_after_the_tutorials_line():
    (t,) = search.trace(get_function("square"), ["sgd"], steps=2, lr=0.1)
    assert tr.verbose_lines(t) == ["Start: x = 3, f(x) = 9",
                                   "Iteration 1: x = 2.4, f(x) = 5.76 | gradient 6, update -0.6",
                                   "Iteration 2: x = 1.92, f(x) = 3.6864 | gradient 4.8, update -0.48"]
    (t,) = search.trace(get_function("quadratic"), ["sgd"], steps=1, lr=0.01, start=(1.0, 1.0))
    assert tr.verbose_lines(t)[1] == ("Iteration 1: x = (0.99, 0.75), f(x) = 7.5213 | gradient (1, 25), "
                                      "update (-0.01, -0.25)")
    (t,) = search.trace(get_function("square"), ["sgd"], steps=3, lr=1.05)
    assert tr.verbose_lines(t)[-1] == "Diverged at step 2 (left the plot, f rising)"


def test_a_diverged_path_stops_at_an_x_on_the_edge_of_the_picture_and_the_table_says_when():
    f = get_function("quadratic")  # y_k = 1.5 (1 - 25 lr)^k: lr = 0.1 gives y_1 = -2.25, below the window's -2
    traced = search.trace(f, ["sgd"], steps=20, lr=[0.01, 0.1])
    assert [tr.divergence_text(t) for t in traced] == ["no", "diverged at step 1 (left the plot)"]
    assert [row[5] for row in tr.summary_table(f, traced).rows] == ["no", "diverged at step 1 (left the plot)"]
    fig = tr.plot_paths(f, traced)
    (ax,) = fig.axes
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert len(crosses) == 1
    (x,), (y,) = crosses[0].get_data()
    # where the segment (-4.5, 1.5) → (-4.05, -2.25) crosses y = -2
    assert y == pytest.approx(-2.0) and x == pytest.approx(-4.5 + 0.45 * 3.5 / 3.75)
    path = next(line for line in ax.get_lines() if line.get_label() == "sgd (lr=0.1, diverged)")
    assert np.allclose(np.transpose(path.get_data()), [[-4.5, 1.5], [x, y]])  # nothing drawn past the edge


def test_a_long_legend_does_not_push_the_axis_labels_off_the_picture():
    """Three long labels (``adamw-schedulefree (lr=1.05, diverged)``) next to an equal-aspect contour plot: the y
    label and tick labels were drawn left of the figure's edge, cut off in the PNG."""
    from descentlab.report.trace_gif import render_frames

    f = get_function("rosenbrock")
    traced = search.trace(f, ["sgd-schedulefree", "adamw-schedulefree", "rmsprop-centered"], steps=5, lr=1.05)
    fig = tr.plot_paths(f, traced)
    fig.draw_without_rendering()
    box = fig.get_tightbbox()
    assert box.x0 >= 0 and box.x1 <= fig.get_figwidth() + 1e-6
    (ax,) = fig.axes
    assert ax.yaxis.label.get_window_extent().x0 >= 0
    assert len(render_frames(f, traced, frames=2)) == 2  # the GIF shares the legend
