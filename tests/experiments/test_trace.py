"""The trace experiment: every optimizer from one start for one budget, the learning rate picked from a grid."""

import math

import numpy as np
import pytest
import torch

from descentlab import minimize
from descentlab.experiments import trace as search
from descentlab.tasks.functions import get_function
from descentlab.trajectories import steps_to_minimum


def test_the_picked_lr_is_the_grids_best_among_runs_that_did_not_diverge():
    f, grid, steps = get_function("quadratic"), (1e-3, 1e-2, 3e-2, 1.0), 300
    finals = {}
    for lr in grid:  # computed here straight from minimize
        path = minimize(lambda x: f.fn(x), f.start, optimizer="sgd", lr=lr, steps=steps)
        finals[lr] = math.inf if path.diverged_at is not None else path.values[-1].item()
    assert finals[1.0] == math.inf  # lr = 1 diverges on this valley: it must not be picked
    (t,) = search.trace(f, ["sgd"], steps=steps, grid=grid)
    assert t.lr_picked and t.lr == min(finals, key=finals.get) == 3e-2
    assert t.final_value == pytest.approx(finals[3e-2]) and not t.diverged
    assert t.label == "sgd (lr=0.03)"


def test_all_optimizers_share_the_start_and_the_budget():
    traced = search.trace(get_function("beale"), ["sgd", "adam", "lion"], steps=7, lr=1e-3, start=(1.0, 1.0))
    for t in traced:
        assert t.positions.shape == (8, 2) and t.positions[0].tolist() == [1.0, 1.0]


def test_adam_reaches_rosenbrocks_minimum_in_the_default_budget():
    f = get_function("rosenbrock")
    (t,) = search.trace(f, ["adam"])
    assert np.linalg.norm(t.positions[-1] - np.array([1.0, 1.0])) < 0.1


def test_steps_to_minimum_counts_the_first_point_within_the_tolerance():
    f = get_function("square")
    (t,) = search.trace(f, ["sgd"], steps=40, lr=0.1)  # x_k = 3 · 0.8^k < 1e-3 from k = 36
    assert steps_to_minimum(f, t) == 36
    assert steps_to_minimum(get_function("saddle"), search.run(get_function("saddle"), "sgd", 0.1, 3)) is None


def test_start_of_the_wrong_dimension_is_a_user_error():
    with pytest.raises(ValueError, match="takes 2"):
        search.trace(get_function("rosenbrock"), ["sgd"], steps=1, lr=0.1, start=(1.0,))


def test_positions_are_float64():
    (t,) = search.trace(get_function("himmelblau"), ["sgd"], steps=2, lr=0.01)
    assert t.trajectory.positions.dtype == torch.float64


def test_several_learning_rates_trace_each_optimizer_once_per_rate():
    traced = search.trace(get_function("square"), ["sgd", "adam"], steps=5, lr=[0.1, 1.05])
    assert [(t.optimizer, t.lr, t.diverged_at) for t in traced] == [
        ("sgd", 0.1, None), ("sgd", 1.05, 2), ("adam", 0.1, None), ("adam", 1.05, None)]
    assert traced[1].final_value == math.inf  # a diverged run never wins


def test_a_pick_at_an_edge_of_the_grid_is_warned_about_with_the_rates_to_try():
    f = get_function("rosenbrock")
    # adam improves with lr up to the top of this grid; sgd diverges above 1e-3; 10 diverges for everything.
    traced = search.trace(f, ["adam", "sgd"], steps=30, grid=(1e-3, 1e-2, 1e-1))
    assert [t.lr for t in traced] == [0.1, 0.001]
    assert search.edge_warnings(traced, (1e-3, 1e-2, 1e-1)) == [
        "warning: adam's learning rate 0.1 is the largest of the searched grid 0.001 … 0.1; a larger one may be "
        "better: compare with --optimizers adam --lr 0.1,0.3,1,3",
        "warning: sgd's learning rate 0.001 is the smallest of the searched grid 0.001 … 0.1; a smaller one may be "
        "better: compare with --optimizers sgd --lr 3.33e-05,0.0001,0.000333,0.001"]
    (doomed,) = search.trace(f, ["sgd"], steps=30, grid=(10.0, 100.0))
    assert search.edge_warnings([doomed], (10.0, 100.0)) == [
        "warning: sgd diverged at every learning rate of the searched grid 10 … 100; a smaller one may be better: "
        "compare with --optimizers sgd --lr 0.333,1,3.33,10"]
    inside = search.trace(get_function("quadratic"), ["sgd"], steps=300, grid=(1e-3, 3e-2, 1.0))
    assert inside[0].lr == 3e-2 and search.edge_warnings(inside, (1e-3, 3e-2, 1.0)) == []
    assert search.edge_warnings(search.trace(f, ["adam"], steps=3, lr=1.0)) == []  # a given lr: no search
