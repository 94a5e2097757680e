"""Properties every optimizer must have, checked over every registered name (``descentlab.optim.names()``).

- lr = 0 changes nothing (and so zeroes decoupled weight decay, which is multiplied by the learning rate);
- g → −g flips the first step (from zero state, without weight decay);
- with ε → 0, the adaptive optimizers are invariant to scaling the gradient stream by c > 0;
- each optimizer solves a parabola and Rosenbrock's function through :func:`descentlab.minimize`.

An optimizer added to the registry is covered at once; the convergence tests then ask for a row in their
learning-rate tables (a tuned learning rate is a fact about the optimizer, not something to guess here).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import minimize, optim

NAMES = optim.names()
FEW = settings(max_examples=8, deadline=None)


def hyperparameter_keys(name: str, suffix: str) -> list[str]:
    """``suffix`` and every ``*_suffix`` hyperparameter of the optimizer (``lr``, ``adamw_lr``…)."""
    rule_defaults = optim.get(name).cls.rule.defaults
    return [k for k, v in rule_defaults.items()
            if (k == suffix or k.endswith("_" + suffix)) and not isinstance(v, bool)]


def with_all(name: str, suffix: str, value: Any) -> dict[str, Any]:
    return dict.fromkeys(hyperparameter_keys(name, suffix), value)


def make(name: str, params: list[torch.Tensor], **hyper: Any) -> torch.optim.Optimizer:
    opt = optim.create(name, params, **hyper)
    if callable(getattr(opt, "train", None)):  # schedule-free: gradients are taken in train mode
        opt.train()
    return opt


def apply(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    for p, g in zip(params, grads):
        p.grad = g.clone()
    opt.step()


def matrix_and_vector(seed: int, zero: bool = False) -> list[torch.Tensor]:
    """A 3×4 matrix (Muon's own path) and a 4-vector (the others'), float64."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (4,)]
    return [(torch.zeros(s, dtype=torch.float64) if zero else torch.randn(s, generator=gen, dtype=torch.float64))
            .requires_grad_(True) for s in shapes]


def gradients(seed: int, scale: float = 1.0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float64) * scale for s in [(3, 4), (4,)]]


# --- lr = 0 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@FEW
@given(seed=st.integers(0, 2**20))
def test_zero_learning_rate_changes_nothing(name: str, seed: int) -> None:
    params = matrix_and_vector(seed)
    before = [p.detach().clone() for p in params]
    # Weight decay on (where the optimizer has it): with lr = 0 it must not act either, decoupled or not.
    opt = make(name, params, **with_all(name, "lr", 0.0), **with_all(name, "weight_decay", 0.1))
    for step in range(3):
        apply(opt, params, gradients(seed + step))
    for p, q in zip(params, before):
        assert torch.equal(p.detach(), q), f"{name}: lr = 0 moved the parameters"


# --- g → −g ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@FEW
@given(seed=st.integers(0, 2**20), lr=st.floats(1e-4, 1.0))
def test_negated_gradient_flips_the_first_step(name: str, seed: int, lr: float) -> None:
    """From θ = 0 and zero state, without weight decay, every rule's first update is an odd function of g.

    θ = 0 makes the check exact: each step is then the parameter itself, and round-to-nearest is symmetric.
    """
    hyper = {**with_all(name, "lr", lr), **with_all(name, "weight_decay", 0.0)}
    steps = []
    for sign in (1.0, -1.0):
        params = matrix_and_vector(seed, zero=True)
        apply(make(name, params, **hyper), params, gradients(seed, sign))
        steps.append([p.detach().clone() for p in params])
    for plus, minus in zip(*steps):
        assert torch.equal(plus, -minus), f"{name}: the first step for -g is not minus the step for g"
        assert plus.abs().sum() > 0, f"{name}: the first step is zero"


# --- scale invariance --------------------------------------------------------------------------------------

# Optimizers that divide by a running RMS (or take a sign, or normalize) and so, with ε → 0, ignore a constant
# positive scale of the gradients. Left out: RAdam (its first steps are un-normalized momentum SGD), Adadelta (ε
# sits in the numerator too), plain/momentum SGD. ε is 1e-300 rather than 0: Adam rejects ε = 0, and 1e-300
# vanishes next to any RMS here in float64 (it also keeps 0/0 out of coordinates whose gradient is 0).
TINY = 1e-300
SCALE_INVARIANT: dict[str, dict[str, Any]] = {
    "adam": {"eps": TINY}, "amsgrad": {"eps": TINY}, "adamw": {"eps": TINY},
    "adagrad": {"eps": TINY}, "rmsprop": {"eps": TINY}, "rmsprop-centered": {"eps": TINY, "momentum": 0.5},
    "adamax": {"eps": TINY}, "nadam": {"eps": TINY}, "adamw-schedulefree": {"eps": TINY},
    "lion": {},
    "muon": {"eps": TINY, "adamw_eps": TINY, "ns_dtype": None},  # bf16 Newton–Schulz rounds differently per c
}


@pytest.mark.parametrize("name", [n for n in NAMES if n in SCALE_INVARIANT])
@FEW
@given(seed=st.integers(0, 2**20), c=st.floats(1e-3, 1e3), steps=st.integers(1, 6))
def test_adaptive_optimizers_ignore_the_gradient_scale(name: str, seed: int, c: float, steps: int) -> None:
    hyper = {**with_all(name, "lr", 0.01), **SCALE_INVARIANT[name]}
    paths = []
    for scale in (1.0, c):
        params = matrix_and_vector(seed)
        opt = make(name, params, **hyper)
        path = []
        for k in range(steps):
            apply(opt, params, gradients(seed + k, scale))
            path.append(torch.cat([p.detach().flatten() for p in params]))
        paths.append(torch.stack(path))
    err = (paths[0] - paths[1]).abs().max().item()
    assert err <= 1e-9, f"{name}: scaling the gradients by {c:g} moved the trajectory by {err:.3g}"


# --- convergence -------------------------------------------------------------------------------------------

# Matrix-only optimizers: Muon's own update is only defined for matrices (its vector half is AdamW), so it is
# checked on a matrix least-squares problem instead of the parabola and Rosenbrock's function.
MATRIX_ONLY = {"muon"}

# Parabola sum((x - a)²) from 0, a = (0.5, -0.3, 0.2): (lr, steps). Learning rates tuned by a grid over
# 10^-5 … 1; steps ≈ 2–4× what the tuned run needed. Weight decay is off (it moves the minimum).
A = torch.tensor([0.5, -0.3, 0.2], dtype=torch.float64)
PARABOLA: dict[str, tuple[float, int]] = {
    "sgd": (0.1, 200), "momentum": (0.05, 500), "nesterov": (0.05, 300),
    "adam": (0.05, 400), "amsgrad": (0.05, 400), "adamw": (0.05, 400),
    "adagrad": (0.5, 200), "rmsprop": (3e-3, 1000), "rmsprop-centered": (3e-3, 1000),
    "adadelta": (10.0, 300), "adamax": (0.05, 400), "nadam": (0.05, 300), "radam": (0.05, 500),
    "lion": (2e-3, 1000),  # sign steps of size lr: it lands, since a is a multiple of lr
    "sgd-schedulefree": (0.5, 200), "adamw-schedulefree": (0.05, 1000),
}

# Rosenbrock (1-x)² + 100(y-x²)² from (-1.5, 2) to within 0.05 of (1, 1): (lr, steps). Tuned the same way;
# steps ≈ 1.5× the tuned need. The valley is flat and curved: plain gradient descent must keep lr under the
# stability limit set by the steep walls (≈ 1e-3) and then crawls along the valley, hence its budget.
ROSENBROCK: dict[str, tuple[float, int]] = {
    "sgd": (1.8e-3, 6000), "momentum": (1e-3, 1500), "nesterov": (1e-3, 1500),
    "adam": (0.056, 1500), "amsgrad": (0.1, 1500), "adamw": (0.056, 1500),
    "adagrad": (1.0, 9000), "rmsprop": (5.6e-3, 4500), "rmsprop-centered": (3.2e-3, 4000),
    "adadelta": (0.1, 8500), "adamax": (0.1, 3000), "nadam": (0.018, 3000), "radam": (0.01, 8000),
    "lion": (1.8e-3, 3000), "sgd-schedulefree": (0.01, 3000), "adamw-schedulefree": (0.1, 4500),
}


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def table_row(table: dict[str, tuple[float, int]], name: str, what: str) -> tuple[float, int]:
    if name not in table:
        pytest.fail(f"no learning rate for {name!r} on {what}: add a tuned (lr, steps) row to the table")
    return table[name]


@pytest.mark.parametrize("name", [n for n in NAMES if n not in MATRIX_ONLY])
def test_solves_a_parabola(name: str) -> None:
    lr, steps = table_row(PARABOLA, name, "the parabola")
    assert steps <= 2000
    path = minimize(lambda x: ((x - A) ** 2).sum(), [0.0, 0.0, 0.0], name, lr=lr, steps=steps,
                    **with_all(name, "weight_decay", 0.0))
    err = (path.final - A).abs().max().item()
    assert path.diverged_at is None and err < 1e-3, f"{name}: |x - a| = {err:.3g} after {steps} steps"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n not in MATRIX_ONLY])
def test_solves_rosenbrock(name: str) -> None:
    lr, steps = table_row(ROSENBROCK, name, "Rosenbrock's function")
    assert steps <= 20000
    path = minimize(rosenbrock, [-1.5, 2.0], name, lr=lr, steps=steps, **with_all(name, "weight_decay", 0.0))
    err = (path.final - 1).abs().max().item()
    assert path.diverged_at is None and err < 0.05, f"{name}: |x - (1, 1)| = {err:.3g} after {steps} steps"


@pytest.mark.parametrize("name", [n for n in NAMES if n in MATRIX_ONLY])
def test_matrix_optimizer_solves_least_squares(name: str) -> None:
    """min ‖A X − B‖² over a 4×3 matrix X. Muon's update has unit spectral norm whatever the gradient's size,
    so with a constant lr it ends on an orbit of size ≈ lr around the solution: the tolerance is 1e-2."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    solution = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    b = a @ solution
    path = minimize(lambda x: ((a @ x - b) ** 2).sum(), torch.zeros(4, 3), name, lr=3e-3, steps=2000,
                    **with_all(name, "weight_decay", 0.0))
    err = (path.final - solution).abs().max().item()
    assert path.diverged_at is None and err < 1e-2, f"{name}: max |X - X*| = {err:.3g}"
