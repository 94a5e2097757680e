"""``sweep``: each optimizer over a log-spaced range of learning rates (× seeds × listed hyperparameter values).

:class:`SweepSpec` is what the user asked for; :meth:`SweepSpec.configs` resolves it into one RunConfig per
trial, in the order optimizer → schedule → learning rate → extra hyperparameter values → seed. Learning rates are
``np.geomspace(lo, hi, points)`` rounded to 4 significant digits, so they print and hash cleanly.

Schedules (``schedules``, e.g. ``("constant", "cosine")``) are crossed with the learning rates: each rate is the
peak of each schedule, resolved per run (:mod:`descentlab.experiments.scheduling`); every schedule is a variant
of its own, with its own chosen learning rate.

Extra hyperparameters (``grid``) are lists of values crossed with the learning rates, e.g.
``(("momentum", (0.8, 0.9)),)``. ``beta1`` / ``beta2`` set one element of ``betas`` (:mod:`descentlab.grid`). An
optimizer that has no such hyperparameter is swept without it (:meth:`SweepSpec.skipped` lists those pairs, for a
printed note). Reading a sweep back is the report's: :mod:`descentlab.report.sweep`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.experiments.scheduling import scheduler
from descentlab.grid import apply, has
from descentlab.optim import external
from descentlab.schedules.spec import schedule_list
from descentlab.tasks import get_task
from descentlab.train import RunConfig


def round_sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (``0.0031622776`` → ``0.003162``)."""
    return float(f"{x:.{digits}g}")


def learning_rates(lo: float, hi: float, points: int) -> tuple[float, ...]:
    """``points`` log-spaced rates from ``lo`` to ``hi`` inclusive, 4 significant digits, increasing, unique."""
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo <= hi
            and math.isfinite(hi)):
        raise UserError(f"--lr {lo}..{hi}: need 0 < LO ≤ HI (finite)")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise UserError(f"--points {points!r} must be a whole number ≥ 1")
    if points > 1 and lo == hi:
        raise UserError(f"--lr {lo}..{hi} is a single rate; give LO < HI or --points 1")
    return tuple(dict.fromkeys(round_sig(float(x)) for x in np.geomspace(lo, hi, points)))


@dataclass(frozen=True)
class SweepSpec:
    """A learning-rate sweep; the constructor only stores, :meth:`configs` validates and expands."""

    task: str = "mnist1d-mlp"
    optimizers: tuple[str, ...] = ("sgd", "momentum", "adam")
    lr_min: float = 1e-4
    lr_max: float = 1.0
    points: int = 8
    seeds: int = 1
    epochs: int | None = None
    batch_size: int | str | None = None
    preset: str = "torch"
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # extra hyperparameters: (name, values)
    data_dir: str | None = None
    schedules: tuple[str, ...] = ()  # learning-rate schedules crossed with the rates (none: constant lr)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "task": self.task, "optimizers": list(self.optimizers), "lr_min": self.lr_min, "lr_max": self.lr_max,
            "points": self.points, "seeds": self.seeds, "epochs": self.epochs, "batch_size": self.batch_size,
            "preset": self.preset, "grid": {name: list(values) for name, values in self.grid},
            "target_val_acc": get_task(self.task).target_val_acc,  # the report reads it from here
        }  # data_dir left out: where the data lives does not change the experiment
        if self.schedules:  # absent otherwise: the specs of sweeps made before schedules existed stay the same
            d["schedules"] = [s.label for s in schedule_list(self.schedules)]
        return d

    def learning_rates(self) -> tuple[float, ...]:
        return learning_rates(self.lr_min, self.lr_max, self.points)

    def _item(self, item: str) -> tuple[optim.Entry, dict[str, Any]]:
        """An item of ``optimizers`` (``name`` or ``name(k=v, ...)``): its entry and the values it gives, on top of
        the preset's."""
        ref, given = external.parse_item(item)
        entry = optim.get(ref)
        return entry, {**get_preset(self.preset).overrides(entry.name), **given}

    def _resolved(self) -> dict[str, dict[str, Any]]:
        """Every optimizer's hyperparameters at the preset's defaults and its given values (checks the names), at
        the sweep's first learning rate: every trial is given one, so a constructor whose ``lr`` has no default
        (``def __init__(self, params, lr, ...)``) is checked as it will be built."""
        out = {}
        for item in self.optimizers:
            entry, hyper = self._item(item)
            out[item] = entry.hyperparameters({**hyper, "lr": self.lr_min})
        return out

    def applicable(self) -> dict[str, tuple[str, ...]]:
        """Per optimizer, the extra hyperparameter names it has."""
        resolved = self._resolved()
        return {opt: tuple(name for name, _ in self.grid if has(resolved[opt], name)) for opt in self.optimizers}

    def skipped(self) -> list[tuple[str, str]]:
        """(optimizer, hyperparameter) pairs of the grid that the optimizer does not have."""
        applicable = self.applicable()
        return [(opt, name) for opt in self.optimizers for name, _ in self.grid if name not in applicable[opt]]

    def _check(self) -> None:
        get_task(self.task)
        if not self.optimizers:
            raise UserError("--optimizers is empty; give a comma-separated list")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise UserError(f"--optimizers {','.join(self.optimizers)} names an optimizer twice")
        self.learning_rates()
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise UserError(f"--seeds {self.seeds!r} must be a whole number ≥ 1")
        resolved = self._resolved()
        names = [name for name, _ in self.grid]
        for name, values in self.grid:
            if name == "lr":
                raise UserError("the learning rate is swept by --lr LO..HI --points N, not listed")
            if names.count(name) > 1:
                raise UserError(f"hyperparameter {name!r} is listed twice")
            if not values:
                raise UserError(f"--{name.replace('_', '-')} has no values")
            if not any(has(r, name) for r in resolved.values()):
                raise UserError(f"none of {', '.join(self.optimizers)} has a hyperparameter {name!r}")

    def configs(self, n_train: int | None = None) -> list[RunConfig]:
        """Every trial's RunConfig (see the module docstring for the order); ``n_train`` as in
        :meth:`descentlab.experiments.compare.CompareSpec.configs`."""
        self._check()
        schedules = schedule_list(self.schedules) or (None,)
        scheduled = scheduler(self.task, self.data_dir, n_train)
        task, preset = get_task(self.task), get_preset(self.preset)
        applicable = self.applicable()
        batch_size = self.batch_size or preset.batch_size or task.default_batch_size
        grid = dict(self.grid)
        out = []
        resolved_all = self._resolved()
        for item in self.optimizers:
            entry, base = self._item(item)
            resolved, names = resolved_all[item], applicable[item]
            given = external.parse_item(item)[1]
            label = external.format_item(entry.name, given) if given else None
            for schedule, lr in itertools.product(schedules, self.learning_rates()):
                for values in itertools.product(*(grid[n] for n in names)):
                    hyper = apply({**base, "lr": lr}, resolved, dict(zip(names, values)))
                    for seed in range(self.seeds):
                        config = RunConfig.build(task, entry.name, hyper, epochs=self.epochs,
                                                 batch_size=batch_size, seed=seed, init=preset.init, label=label)
                        out.append(scheduled(config, schedule))
        return out
