"""Small test functions whose landscapes show how optimizers move: the tutorial's x², a narrow quadratic valley,
Rosenbrock, Beale, Himmelblau, a saddle and Rastrigin.

Each ``fn`` takes a tensor whose *first* axis holds the coordinates: a point of shape ``[dim]`` gives a scalar
(differentiable with autograd), a grid of shape ``[dim, H, W]`` gives ``[H, W]`` values (for contour plots).

>>> from descentlab.tasks.functions import get_function
>>> f = get_function("rosenbrock")
>>> float(f.fn(torch.tensor(f.minima[0])))
0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from descentlab.registry import Registry

Point = tuple[float, ...]


@dataclass(frozen=True)
class TestFunction:
    """A function to minimize, with where to start, where its minima are and how to draw it."""

    __test__ = False  # not a pytest test class

    name: str
    fn: Callable[[Tensor], Tensor]
    dim: int
    start: Point
    minima: tuple[Point, ...]  # every known global minimum (none for the saddle: it is unbounded below)
    bounds: tuple[tuple[float, float], ...]  # plot window, one (lo, hi) per coordinate
    log_contours: bool  # contour levels spaced logarithmically (for steep valleys)
    description: str
    min_value: float = 0.0


def _square(x: Tensor) -> Tensor:
    return x[0] ** 2


def _quadratic(x: Tensor) -> Tensor:
    return 0.5 * (x[0] ** 2 + 25.0 * x[1] ** 2)


def _rosenbrock(x: Tensor) -> Tensor:
    return (1 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def _beale(x: Tensor) -> Tensor:
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def _himmelblau(x: Tensor) -> Tensor:
    a, b = x[0], x[1]
    return (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2


def _saddle(x: Tensor) -> Tensor:
    return x[0] ** 2 - x[1] ** 2


def _rastrigin(x: Tensor) -> Tensor:
    return 10.0 * x.shape[0] + (x**2 - 10.0 * torch.cos(2 * math.pi * x)).sum(dim=0)


FUNCTIONS: Registry[TestFunction] = Registry("function")
for _f in (
    TestFunction("square", _square, 1, (3.0,), ((0.0,),), ((-3.5, 3.5),), False,
                 "f(x) = x², the tutorial's first example"),
    TestFunction("quadratic", _quadratic, 2, (-4.5, 1.5), ((0.0, 0.0),), ((-5.0, 5.0), (-2.0, 2.0)), True,
                 "0.5 (x² + 25 y²): a narrow valley, condition number 25"),
    TestFunction("rosenbrock", _rosenbrock, 2, (-1.5, 2.0), ((1.0, 1.0),), ((-2.0, 2.0), (-1.0, 3.0)), True,
                 "(1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley"),
    TestFunction("beale", _beale, 2, (1.0, 1.5), ((3.0, 0.5),), ((-4.5, 4.5), (-4.5, 4.5)), True,
                 "Beale: flat plateaus and steep ridges, minimum at (3, 0.5)"),
    TestFunction("himmelblau", _himmelblau, 2, (0.0, 0.0),
                 ((3.0, 2.0), (-2.805118086952745, 3.131312518250573), (-3.779310253377747, -3.283185991286170),
                  (3.584428340330492, -1.848126526964404)),
                 ((-5.0, 5.0), (-5.0, 5.0)), True, "Himmelblau: four minima of equal depth"),
    TestFunction("saddle", _saddle, 2, (-1.5, 1e-3), (), ((-2.0, 2.0), (-2.0, 2.0)), False,
                 "x² − y²: starts next to a saddle point; unbounded below"),
    TestFunction("rastrigin", _rastrigin, 2, (-2.3, 3.4), ((0.0, 0.0),), ((-5.12, 5.12), (-5.12, 5.12)), False,
                 "Rastrigin: a bowl covered in local minima"),
):
    FUNCTIONS.register(_f.name, _f)


def function_names() -> list[str]:
    return FUNCTIONS.names()


def get_function(name: str) -> TestFunction:
    """The test function registered as ``name``; UserError listing the valid names if none."""
    return FUNCTIONS.get(name)
