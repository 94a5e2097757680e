"""The paths behind the interactive trace page: batched rows are exactly minimize's single runs."""

import pytest
import torch

from descentlab import minimize
from descentlab.errors import UserError
from descentlab.experiments import trace_page as tp
from descentlab.tasks.functions import get_function


@pytest.mark.parametrize("name", list(tp.PAGE_OPTIMIZERS))
def test_each_batched_row_is_the_run_minimize_makes(name):
    f, knob = get_function("rosenbrock"), tp.PAGE_OPTIMIZERS[name]
    values = (None,) if knob is None else knob.values
    configs = [(lr, v) for lr in (1e-3, 0.05, 1.0) for v in values]
    traced = tp.trace_batch(f, name, configs, 40, knob)
    for (lr, v), t in zip(configs, traced):
        hyper = {} if knob is None else {"betas": (v, 0.999)} if knob.key == "betas" else {knob.key: v}
        path = minimize(f.fn, f.start, optimizer=name, lr=lr, steps=40, **hyper)
        assert t.lr == lr and t.trajectory.diverged_at == path.diverged_at
        assert torch.allclose(t.trajectory.positions, path.positions, rtol=1e-12, atol=1e-12, equal_nan=True)
        assert torch.allclose(t.trajectory.values, path.values, rtol=1e-12, atol=1e-12, equal_nan=True)
    if name in ("sgd", "momentum"):  # gradient descent at lr 1 blows up on Rosenbrock: the cut rows agree too
        assert traced[-1].diverged


def test_the_page_grid_has_one_path_per_function_optimizer_lr_and_knob_value():
    page = tp.page_paths(("quadratic", "himmelblau"), {"sgd": None, "adam": tp.PAGE_OPTIMIZERS["adam"]},
                         lrs=(1e-3, 0.1), steps=15)
    assert [f.name for f in page.functions] == ["quadratic", "himmelblau"]
    grid = page.paths["himmelblau"]["adam"]
    assert len(grid) == 2 and [len(row) for row in grid] == [4, 4]
    assert grid[1][2].lr == 0.1 and grid[1][2].trajectory.hyperparameters["betas"] == (0.9, 0.999)
    assert [len(row) for row in page.paths["quadratic"]["sgd"]] == [1, 1]
    assert page.n_points == 2 * (2 * 1 + 2 * 4) * 16 - sum(  # every point, less what diverged runs did not take
        16 - len(t.positions) for g in page.paths.values() for rows in g.values() for row in rows for t in row)


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 201}, "1 … 200 steps"),
    ({"functions": ("square",)}, "square is 1-D"),
    ({"functions": ("banana",)}, "valid names"),
])
def test_bad_page_requests_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        tp.page_paths(**kwargs)
