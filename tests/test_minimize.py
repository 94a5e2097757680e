"""``descentlab.minimize``: the trajectory it returns, its use of the optimizer classes, and its errors."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import descentlab
from descentlab import Trajectory, minimize, optim
from descentlab.errors import UserError


def parabola(x: torch.Tensor) -> torch.Tensor:
    return (x**2).sum()


def test_gradient_descent_on_x_squared_is_geometric() -> None:
    # f = x², f' = 2x: x_{k+1} = x_k - 0.1 * 2 x_k = 0.8 x_k.
    path = minimize(parabola, 3.0, optimizer="sgd", lr=0.1, steps=50)
    k = torch.arange(51, dtype=torch.float64)
    expected = 3.0 * 0.8**k
    assert path.positions.dtype == torch.float64 and path.positions.shape == (51,)
    assert (path.positions - expected).abs().max().item() <= 1e-12
    assert (path.values - expected**2).abs().max().item() <= 1e-12
    assert path.diverged_at is None and path.steps == 50
    assert path.optimizer == "sgd"


def test_trajectory_is_frozen_and_has_the_resolved_hyperparameters() -> None:
    path = minimize(parabola, [1.0, -2.0], optimizer="nesterov", lr=0.05, steps=3, weight_decay=0.01)
    assert isinstance(path, Trajectory)
    assert path.hyperparameters == {**optim.SGD.rule.defaults, "lr": 0.05, "momentum": 0.9, "nesterov": True,
                                    "weight_decay": 0.01}
    with pytest.raises(dataclasses.FrozenInstanceError):
        path.steps_taken = 3  # type: ignore[attr-defined]
    assert descentlab.minimize is minimize


def test_positions_include_x0_and_keep_its_shape() -> None:
    x0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32)
    path = minimize(parabola, x0, optimizer="adam", lr=0.1, steps=7)
    assert path.positions.shape == (8, 2, 2) and path.values.shape == (8,)
    assert path.positions.dtype == torch.float64
    assert torch.equal(path.positions[0], x0.double())
    assert x0.tolist() == [[1.0, 2.0], [3.0, 4.0]], "x0 must not be modified"
    assert path.values[0].item() == 30.0
    # dtype is a choice, float64 only the default.
    assert minimize(parabola, x0, "adam", steps=2, dtype=torch.float32).positions.dtype == torch.float32


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_uses_the_optimizer_class_and_equals_a_hand_written_loop(name: str) -> None:
    """The trajectory is what ``optim.create(name)`` does in an ordinary training loop, bitwise."""
    path = minimize(lambda x: ((x - 1) ** 4).sum(), [0.0, 3.0], optimizer=name, lr=0.02, steps=20)
    x = torch.tensor([0.0, 3.0], dtype=torch.float64, requires_grad=True)
    opt = optim.create(name, [x], lr=0.02)
    for k in range(20):
        opt.zero_grad()
        ((x - 1) ** 4).sum().backward()
        opt.step()
        assert torch.equal(path.positions[k + 1], x.detach()), f"step {k + 1}"


def test_accepts_an_optimizer_class_torch_included() -> None:
    ours = minimize(parabola, [1.0, 2.0], optimizer=optim.Adam, lr=0.1, steps=30)
    theirs = minimize(parabola, [1.0, 2.0], optimizer=torch.optim.Adam, lr=0.1, steps=30)
    assert ours.optimizer == "Adam" and theirs.optimizer == "Adam"
    assert torch.allclose(ours.positions, theirs.positions, rtol=1e-12, atol=1e-14)
    assert theirs.hyperparameters["lr"] == 0.1 and theirs.hyperparameters["betas"] == (0.9, 0.999)


def test_an_optimizer_that_needs_a_closure_gets_one_lbfgs() -> None:
    """torch.optim.LBFGS (its step takes a closure; it was a TypeError): the path equals LBFGS's own loop."""
    def fn(x: torch.Tensor) -> torch.Tensor:
        return ((x - 1) ** 2 * torch.tensor([1.0, 10.0], dtype=x.dtype)).sum() + x.prod() ** 2

    path = minimize(fn, [3.0, -2.0], optimizer=torch.optim.LBFGS, lr=0.5, steps=4, max_iter=3)
    x = torch.tensor([[3.0, -2.0]], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=0.5, max_iter=3)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = fn(x.view(2))
        value.backward()
        return value

    expected = [x.detach().clone().view(2)]
    for _ in range(4):
        opt.step(closure)
        expected.append(x.detach().clone().view(2))
    assert torch.equal(path.positions, torch.stack(expected))
    assert path.optimizer == "LBFGS" and path.steps == 4 and path.values[-1] < path.values[0]


class _SAM(torch.optim.Optimizer):
    """SAM as usually published: closure=None in the signature, needed in fact."""

    def __init__(self, params, lr=0.1, rho=0.05):
        super().__init__(params, {"lr": lr, "rho": rho})

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is not None, "SAM requires closure"
        for group in self.param_groups:
            for p in group["params"]:
                e = p.grad * (group["rho"] / p.grad.norm())
                p.add_(e)
                with torch.enable_grad():
                    closure()
                p.sub_(e).add_(p.grad, alpha=-group["lr"])


def test_a_sam_style_optimizer_whose_closure_is_optional_in_its_signature_gets_one() -> None:
    """x² from 3: the gradient is taken at the ascent point x + ρ·sign(x), x ← x − lr·2(x + ρ) (it raised the
    assertion: only a closure without a default was handed one)."""
    path = minimize(lambda x: (x ** 2).sum(), 3.0, optimizer=_SAM, lr=0.1, steps=2, rho=0.05)
    x1 = 3.0 - 0.1 * 2 * (3.0 + 0.05)
    x2 = x1 - 0.1 * 2 * (x1 + 0.05)
    assert path.positions.flatten().tolist() == pytest.approx([3.0, x1, x2], rel=1e-12)


def test_schedule_free_records_the_averaged_point() -> None:
    name = "sgd-schedulefree"
    if name not in optim.names():
        pytest.skip(f"{name} is not registered")
    path = minimize(parabola, [1.0, -1.0], optimizer=name, lr=0.5, steps=200)
    assert path.diverged_at is None
    assert path.final.abs().max().item() < 1e-6
    # The recorded point is x (where the optimizer's eval() puts the parameters), not the gradient point y.
    x = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    opt = optim.create(name, [x], lr=0.5)
    opt.train()
    for _ in range(5):
        opt.zero_grad()
        parabola(x).backward()
        opt.step()
    opt.eval()
    assert torch.equal(path.positions[5], x.detach())


def test_stops_at_the_first_non_finite_value_and_keeps_what_it_computed() -> None:
    # lr = 1.5 on x²: x_{k+1} = -2 x_k, so |x| doubles every step and overflows float64 near step 1024.
    path = minimize(parabola, 1.0, optimizer="sgd", lr=1.5, steps=5000)
    assert path.diverged_at is not None and 500 < path.diverged_at < 1100
    assert path.positions.shape[0] == path.diverged_at + 1 == path.values.shape[0]
    assert not math.isfinite(path.values[-1].item())
    assert torch.isfinite(path.values[:-1]).all() and torch.isfinite(path.positions[:-1]).all()


def test_zero_steps_evaluates_only_x0() -> None:
    path = minimize(parabola, 2.0, steps=0)
    assert path.positions.tolist() == [2.0] and path.values.tolist() == [4.0] and path.diverged_at is None


def test_unknown_optimizer_lists_the_valid_names() -> None:
    with pytest.raises(UserError, match=r"unknown optimizer 'adamm' \(did you mean 'adam', .*\?\); "
                                        r"valid names: .*\bsgd\b.*\badam\b"):
        minimize(parabola, 1.0, optimizer="adamm")
    with pytest.raises(UserError, match=r"invalid optimizer=42; allowed: a torch.optim.Optimizer subclass or one of"):
        minimize(parabola, 1.0, optimizer=42)  # type: ignore[arg-type]


@pytest.mark.parametrize("steps", [-1, 2.5, True])
def test_bad_steps(steps: object) -> None:
    with pytest.raises(UserError, match=rf"invalid steps={steps!r}; allowed: an integer ≥ 0"):
        minimize(parabola, 1.0, steps=steps)  # type: ignore[arg-type]


def test_fn_must_be_callable() -> None:
    with pytest.raises(UserError, match="fn must be callable, got float"):
        minimize(3.0, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fn", "shown"), [(lambda x: x**2, r"\(2,\)"), (lambda x: 1.0, "float")])
def test_fn_must_return_a_scalar(fn, shown: str) -> None:
    with pytest.raises(UserError, match=rf"fn must return a one-element tensor \(a scalar\), got {shown}"):
        minimize(fn, [1.0, 2.0])


def test_fn_must_depend_on_x() -> None:
    with pytest.raises(UserError, match="does not depend on x"):
        minimize(lambda x: torch.tensor(1.0), [1.0, 2.0])


def test_bad_x0_and_bad_hyperparameters_are_user_errors() -> None:
    with pytest.raises(UserError, match="x0 must be a number, a sequence of numbers or a tensor"):
        minimize(parabola, "one")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invalid lr=-1\.0"):
        minimize(parabola, 1.0, lr=-1.0)
    with pytest.raises(ValueError, match="unknown hyperparameter 'mom'"):
        minimize(parabola, 1.0, optimizer="sgd", mom=0.9)


def test_muon_moves_a_vector_as_a_1_by_n_matrix_at_its_own_lr():
    def f(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    fast, slow = (minimize(f, [-1.5, 2.0], "muon", lr=lr, steps=1) for lr in (0.1, 0.001))
    torch.testing.assert_close(fast.positions[1] - fast.positions[0], 100 * (slow.positions[1] - slow.positions[0]))
    # the step Muon takes on the same point held as a 1 × 2 matrix
    p = torch.nn.Parameter(torch.tensor([[-1.5, 2.0]], dtype=torch.float64))
    p.grad = torch.autograd.grad(f(p[0]), p)[0]
    optim.Muon([p], lr=0.1).step()
    torch.testing.assert_close(fast.positions[1], p.detach()[0])
    assert fast.positions.shape == (2, 2)


def test_gradients_are_the_ones_each_update_used() -> None:
    # f = 0.5 (x² + 25 y²): ∇f = (x, 25 y) at the point before each update; sgd's step is -lr times it.
    fn = lambda x: 0.5 * (x[0] ** 2 + 25 * x[1] ** 2)  # noqa: E731
    path = minimize(fn, [1.0, 1.0], optimizer="sgd", lr=0.01, steps=4)
    assert path.gradients is not None and path.gradients.shape == (4, 2)
    expected = path.positions[:-1] * torch.tensor([1.0, 25.0], dtype=torch.float64)
    assert torch.allclose(path.gradients, expected, rtol=0, atol=1e-15)
    assert torch.allclose(path.positions[1:] - path.positions[:-1], -0.01 * path.gradients, rtol=0, atol=1e-15)
    # no update after a non-finite value: no gradient recorded for it
    assert minimize(lambda x: (x**2).sum() / 0.0, 1.0, steps=5).gradients.shape == (0,)


def test_escape_step_is_where_a_path_runs_away_from_the_window_for_good() -> None:
    from descentlab.tasks.functions import get_function
    from descentlab.trajectories import escape_step

    square, saddle = get_function("square"), get_function("saddle")
    # x_k = 3 (1 - 2.1)^k = 3 (-1.1)^k: |x_1| = 3.3 is inside [-3.5, 3.5], |x_2| = 3.63 is not, and never again.
    assert escape_step(square, minimize(square.fn, [3.0], lr=1.05, steps=20)) == 2
    assert escape_step(square, minimize(square.fn, [3.0], lr=1.0, steps=20)) is None  # ±3 forever: inside
    # the saddle (window [-2, 2]², unbounded below): y_k = 1e-3 (1 + 2 lr)^k runs down towards −∞. Past the
    # window by an order of magnitude (|y| > 10 × 2, at k = 55 for lr = 0.1: 1.2^55 ≈ 2.3e4) is divergence, as a
    # blow-up; a descent that ends just beyond the picture (lr = 0.01: y_500 ≈ 19.96) is not.
    assert escape_step(saddle, minimize(saddle.fn, saddle.start, lr=0.1, steps=200)) == 55
    assert escape_step(saddle, minimize(saddle.fn, saddle.start, lr=0.01, steps=500)) is None
    # a path back inside the window is no escape, however far it went (x_k = 3 (−1.1)^k, then lr 0.5 → 0)
    far_and_back = minimize(square.fn, [3.0], lr=1.05, steps=40, schedule=lambda k: 1.05 if k < 30 else 0.5)
    assert escape_step(square, far_and_back) is None


def test_a_schedule_sets_each_updates_learning_rate():
    path = minimize(lambda x: (x**2).sum(), 1.0, "sgd", lr=0.5, steps=3, schedule=[0.1, 0.2, 0.3].__getitem__)
    # x ← x − η_k · 2x with η = 0.1, 0.2, 0.3 (the constructor's lr=0.5 is never used)
    torch.testing.assert_close(path.positions, torch.tensor([1.0, 0.8, 0.48, 0.192], dtype=torch.float64))


@pytest.mark.parametrize("x0, message", [([], "is empty"), ([1.0, float("nan")], "non-finite"),
                                         (float("inf"), "non-finite"), (torch.zeros(0, 2), "is empty")])
def test_a_start_that_is_empty_or_not_finite_is_refused(x0, message):
    with pytest.raises(UserError, match=f"minimize: x0 .*{message}"):
        minimize(lambda x: (x**2).sum(), x0, steps=3)
