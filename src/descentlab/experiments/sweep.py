"""``sweep``: each optimizer over a log-spaced range of learning rates (× seeds × listed hyperparameter values).

:class:`SweepSpec` is what the user asked for; :meth:`SweepSpec.configs` resolves it into one RunConfig per
trial, in the order optimizer → learning rate → extra hyperparameter values → seed. Learning rates are
``np.geomspace(lo, hi, points)`` rounded to 4 significant digits, so they print and hash cleanly.

Extra hyperparameters (``grid``) are lists of values crossed with the learning rates, e.g.
``(("momentum", (0.8, 0.9)),)``. ``beta1`` / ``beta2`` set one element of ``betas``. An optimizer that has no
such hyperparameter is swept without it (:meth:`SweepSpec.skipped` lists those pairs, for a printed note).

Reading a sweep back (:func:`sweep_rows`): one :class:`SweepRow` per *variant* — an optimizer at one combination
of the extra values (just the optimizer when there are none) — with the learning rate chosen on validation by
:func:`descentlab.report.summary.sweep_summaries`; :func:`best_per_optimizer` picks each optimizer's best variant
the same way (highest mean final val acc at its chosen lr; test is only reported).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.report.data import ExperimentData
from descentlab.report.summary import LrPoint, Stat, SweepSummary, sweep_summaries, variant_label
from descentlab.report.tables import Table
from descentlab.tasks import get_task
from descentlab.train import RunConfig

BETAS = {"beta1": 0, "beta2": 1}  # names that set one element of ``betas``


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


def _has(resolved: Mapping[str, Any], name: str) -> bool:
    if name in BETAS:
        return isinstance(resolved.get("betas"), (tuple, list))
    return name in resolved


def _apply(hyper: dict[str, Any], resolved: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``hyper`` with the extra ``values`` set (``beta1``/``beta2`` into a copy of the resolved ``betas``)."""
    out = dict(hyper)
    for name, value in values.items():
        if name in BETAS:
            betas = list(out.get("betas", resolved["betas"]))
            betas[BETAS[name]] = value
            out["betas"] = tuple(betas)
        else:
            out[name] = value
    return out


def extras_of(hyperparameters: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The values of the swept extra hyperparameters ``names`` that a run's hyperparameters hold."""
    out = {}
    for name in names:
        if name in BETAS:
            betas = hyperparameters.get("betas")
            if isinstance(betas, (tuple, list)):
                out[name] = betas[BETAS[name]]
        elif name in hyperparameters:
            out[name] = hyperparameters[name]
    return out


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "optimizers": list(self.optimizers), "lr_min": self.lr_min, "lr_max": self.lr_max,
            "points": self.points, "seeds": self.seeds, "epochs": self.epochs, "batch_size": self.batch_size,
            "preset": self.preset, "grid": {name: list(values) for name, values in self.grid},
        }  # data_dir left out: where the data lives does not change the experiment

    def learning_rates(self) -> tuple[float, ...]:
        return learning_rates(self.lr_min, self.lr_max, self.points)

    def _resolved(self) -> dict[str, dict[str, Any]]:
        """Every optimizer's hyperparameters at the preset's defaults (checks the names)."""
        preset = get_preset(self.preset)
        return {name: optim.get(name).hyperparameters(preset.overrides(name)) for name in self.optimizers}

    def applicable(self) -> dict[str, tuple[str, ...]]:
        """Per optimizer, the extra hyperparameter names it has."""
        resolved = self._resolved()
        return {opt: tuple(name for name, _ in self.grid if _has(resolved[opt], name)) for opt in self.optimizers}

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
            if not any(_has(r, name) for r in resolved.values()):
                raise UserError(f"none of {', '.join(self.optimizers)} has a hyperparameter {name!r}")

    def configs(self) -> list[RunConfig]:
        self._check()
        task, preset = get_task(self.task), get_preset(self.preset)
        applicable = self.applicable()
        batch_size = self.batch_size or preset.batch_size or task.default_batch_size
        grid = dict(self.grid)
        out = []
        for name in self.optimizers:
            resolved = optim.get(name).hyperparameters(preset.overrides(name))
            names = applicable[name]
            for lr in self.learning_rates():
                for values in itertools.product(*(grid[n] for n in names)):
                    hyper = _apply({**preset.overrides(name), "lr": lr}, resolved, dict(zip(names, values)))
                    for seed in range(self.seeds):
                        out.append(RunConfig.build(task, name, hyper, epochs=self.epochs, batch_size=batch_size,
                                                   seed=seed, init=preset.init))
        return out


# --- reading a sweep back ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRow:
    """One variant of a sweep: the optimizer at one combination of the extra values, over the learning rates."""

    optimizer: str
    extras: dict[str, Any]  # the swept extra values, by the grid's names (beta1, not betas)
    summary: SweepSummary

    @property
    def label(self) -> str:
        return variant_label(self.optimizer, self.extras)


def grid_names(data: ExperimentData) -> list[str]:
    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    grid = spec.get("grid")
    return list(grid) if isinstance(grid, dict) else []


def sweep_rows(data: ExperimentData) -> list[SweepRow]:
    """One row per variant of ``sweep_summaries`` (which splits them and chooses each one's lr on validation),
    with the variant's values of the grid's extra hyperparameters."""
    names = grid_names(data)
    rows = []
    for summary in sweep_summaries(data):
        run = next(r for r in data.runs if summary.holds(r))
        rows.append(SweepRow(summary.optimizer, extras_of(run.hyperparameters, names), summary))
    return rows


def best_per_optimizer(rows: Sequence[SweepRow]) -> dict[str, SweepRow]:
    """Each optimizer's variant with the best mean final val acc at its chosen lr (ties: the first listed)."""
    best: dict[str, SweepRow] = {}
    for row in rows:
        if row.summary.best_lr is None:
            continue
        current = best.get(row.optimizer)
        if current is None or row.summary.best_val_acc.mean > current.summary.best_val_acc.mean:
            best[row.optimizer] = row
    return best


def _cell(point: LrPoint | None, chosen: bool) -> str:
    if point is None:
        return "–"
    if point.diverged:
        text = "div"
    elif point.val_acc.n == 0:
        text = "fail" if point.failed else "–"
    else:
        text = f"{point.val_acc.mean * 100:.1f}"
    return text + " *" if chosen else text


def sensitivity_table(rows: Sequence[SweepRow]) -> Table:
    """Rows = learning rates, columns = variants, cells = final val acc % (mean over seeds), ``div`` if any
    seed diverged; ``*`` marks the rate chosen on validation."""
    lrs = sorted({p.lr for r in rows for p in r.summary.points})
    body = []
    for lr in lrs:
        cells = []
        for r in rows:
            point = next((p for p in r.summary.points if p.lr == lr), None)
            cells.append(_cell(point, r.summary.best_lr == lr))
        body.append((f"{lr:.4g}", *cells))
    return Table("Learning-rate sensitivity: final val acc % (mean over seeds)", ("lr", *(r.label for r in rows)),
                 tuple(body), "* chosen on validation; div: at least one seed diverged (non-finite loss)")


def _stat(stat: Stat) -> dict[str, Any] | None:
    return {"mean": stat.mean, "std": stat.std, "n": stat.n} if stat.n else None


def _row_json(row: SweepRow) -> dict[str, Any]:
    s = row.summary
    return {
        "optimizer": row.optimizer, "variant": row.label, "extras": row.extras, "batch_size": s.batch_size,
        "trials": s.trials, "runs": s.runs, "diverged": sum(p.diverged for p in s.points),
        "chosen_lr": s.best_lr, "val_acc_at_chosen_lr": _stat(s.best_val_acc),
        "test_acc_at_chosen_lr": _stat(s.test_acc_at_best),
        "points": [{"lr": p.lr, "val_acc": _stat(p.val_acc), "test_acc": _stat(p.test_acc), "runs": p.n_runs,
                    "diverged": p.diverged, "failed": p.failed} for p in s.points],
    }


def sweep_json(rows: Sequence[SweepRow]) -> dict[str, Any]:
    """The per-variant entries and, per optimizer, the chosen configuration with its whole tuning budget."""
    best = {}
    for optimizer, row in best_per_optimizer(rows).items():
        mine = [r for r in rows if r.optimizer == optimizer]
        best[optimizer] = {"variant": row.label, "extras": row.extras, "lr": row.summary.best_lr,
                           "val_acc": _stat(row.summary.best_val_acc), "test_acc": _stat(row.summary.test_acc_at_best),
                           "trials": sum(r.summary.trials for r in mine), "runs": sum(r.summary.runs for r in mine)}
    return {"optimizers": [_row_json(r) for r in rows], "best": best}
