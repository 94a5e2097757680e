import math

import numpy as np
import pytest
import torch

from descentlab import minimize
from descentlab.report import trace as tr
from descentlab.tasks.functions import get_function


def test_the_tutorials_first_iterations():
    (t,) = tr.trace(get_function("square"), ["sgd"], steps=3, lr=0.1)
    assert tr.iteration_lines(t) == ["Iteration 1: x = 2.4, f(x) = 5.76", "Iteration 2: x = 1.92, f(x) = 3.6864",
                                     "Iteration 3: x = 1.536, f(x) = 2.3593"]


def test_two_dimensional_iterations_show_both_coordinates():
    (t,) = tr.trace(get_function("quadratic"), ["sgd"], steps=1, lr=0.01, start=(1.0, 1.0))
    assert tr.iteration_lines(t) == ["Iteration 1: x = (0.99, 0.75), f(x) = 7.5213"]


def test_the_picked_lr_is_the_grids_best_among_runs_that_did_not_diverge():
    f, grid, steps = get_function("quadratic"), (1e-3, 1e-2, 3e-2, 1.0), 300
    finals = {}
    for lr in grid:  # computed here straight from minimize
        path = minimize(lambda x: f.fn(x), f.start, optimizer="sgd", lr=lr, steps=steps)
        finals[lr] = math.inf if path.diverged_at is not None else path.values[-1].item()
    assert finals[1.0] == math.inf  # lr = 1 diverges on this valley: it must not be picked
    (t,) = tr.trace(f, ["sgd"], steps=steps, grid=grid)
    assert t.lr_picked and t.lr == min(finals, key=finals.get) == 3e-2
    assert t.final_value == pytest.approx(finals[3e-2]) and not t.diverged
    assert t.label == "sgd (lr=0.03)"


def test_all_optimizers_share_the_start_and_the_budget():
    traced = tr.trace(get_function("beale"), ["sgd", "adam", "lion"], steps=7, lr=1e-3, start=(1.0, 1.0))
    for t in traced:
        assert t.positions.shape == (8, 2) and t.positions[0].tolist() == [1.0, 1.0]


def test_adam_reaches_rosenbrocks_minimum_in_the_default_budget():
    f = get_function("rosenbrock")
    (t,) = tr.trace(f, ["adam"])
    assert np.linalg.norm(t.positions[-1] - np.array([1.0, 1.0])) < 0.1


def test_steps_to_minimum_counts_the_first_point_within_the_tolerance():
    f = get_function("square")
    (t,) = tr.trace(f, ["sgd"], steps=40, lr=0.1)  # x_k = 3 · 0.8^k < 1e-3 from k = 36
    assert tr.steps_to_minimum(f, t) == 36
    assert tr.steps_to_minimum(get_function("saddle"), tr.run(get_function("saddle"), "sgd", 0.1, 3)) is None


def test_a_diverged_run_is_cut_at_its_first_non_finite_point_and_reported():
    f = get_function("rosenbrock")
    t = tr.run(f, "sgd", 1.0, 50)
    assert t.diverged and t.final_value == math.inf and np.isfinite(t.positions).all()
    assert "diverged" in t.label
    fig = tr.plot_paths(f, [t])  # still drawable
    assert len(fig.legends[0].get_texts()) == 2


@pytest.mark.parametrize("name", ["rosenbrock", "square", "saddle"])
def test_the_figure_has_one_labelled_path_per_optimizer(name):
    f = get_function(name)
    traced = tr.trace(f, ["sgd", "momentum", "adam"], steps=20, lr=1e-3)
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
    table = tr.summary_table(f, tr.trace(f, ["sgd", "adam"], steps=40, lr=0.1))
    assert table.row_count == 2
    assert [c.header for c in table.columns][:4] == ["optimizer", "lr", "final x", "final f"]
    assert list(table.columns[4].cells) == ["36", "—"]


def test_start_of_the_wrong_dimension_is_a_user_error():
    with pytest.raises(ValueError, match="takes 2"):
        tr.trace(get_function("rosenbrock"), ["sgd"], steps=1, lr=0.1, start=(1.0,))


def test_positions_are_float64():
    (t,) = tr.trace(get_function("himmelblau"), ["sgd"], steps=2, lr=0.01)
    assert t.trajectory.positions.dtype == torch.float64
