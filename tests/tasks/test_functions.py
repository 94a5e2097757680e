import pytest
import torch

from descentlab.errors import UserError
from descentlab.tasks.functions import FUNCTIONS, function_names, get_function

WITH_MINIMA = [f for f in FUNCTIONS.values() if f.minima]


@pytest.mark.parametrize("f", WITH_MINIMA, ids=lambda f: f.name)
def test_value_and_gradient_vanish_at_every_known_minimum(f):
    for m in f.minima:
        x = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        value = f.fn(x)
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == pytest.approx(f.min_value, abs=1e-10)
        assert torch.allclose(grad, torch.zeros_like(grad), atol=1e-9), (f.name, m, grad)


@pytest.mark.parametrize("f", WITH_MINIMA, ids=lambda f: f.name)
def test_minima_are_lower_than_the_start_and_inside_the_window(f):
    assert f.fn(torch.tensor(f.start, dtype=torch.float64)).item() > f.min_value
    for m in f.minima:
        assert all(lo < c < hi for c, (lo, hi) in zip(m, f.bounds))


def test_saddle_is_a_stationary_point_that_is_not_a_minimum():
    f = get_function("saddle")
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f.fn(x), x)
    assert grad.abs().max() == 0 and f.minima == ()
    assert f.fn(torch.tensor([0.0, 0.1])).item() < 0


@pytest.mark.parametrize("f", FUNCTIONS.values(), ids=lambda f: f.name)
def test_a_grid_evaluates_pointwise(f):
    axes = [torch.linspace(lo, hi, 5, dtype=torch.float64) for lo, hi in f.bounds]
    grid = torch.stack(torch.meshgrid(*axes, indexing="xy"))
    values = f.fn(grid)
    assert values.shape == grid.shape[1:]
    point = grid[(slice(None),) + (2,) * f.dim]
    assert values[(2,) * f.dim].item() == pytest.approx(f.fn(point).item())
    assert len(f.start) == f.dim == len(f.bounds)


def test_square_is_the_tutorials_function():
    f = get_function("square")
    assert f.dim == 1 and f.start == (3.0,) and f.fn(torch.tensor([3.0])).item() == 9.0


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UserError, match="rosenbrock") as err:
        get_function("rosenbrok")
    assert "\n" not in str(err.value)
    assert function_names() == ["square", "quadratic", "rosenbrock", "beale", "himmelblau", "saddle", "rastrigin"]
