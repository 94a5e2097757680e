"""One experiment's runs and their per-epoch metrics, as the report reads them from the store.

Run configs are read defensively: the hyperparameters are ``config["hyperparameters"]`` (else ``{}``), the
learning rate is ``hyperparameters["lr"]`` (else ``config["lr"]``), the batch size ``config["batch_size"]``.
A missing metric reads as NaN, never as an error, so a report can be made of any store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descentlab.kinds import KINDS
from descentlab.store import Experiment, Run, Store


@dataclass(frozen=True)
class RunData:
    """A stored run, its epochs (dicts with ``"epoch"`` and the metrics, in epoch order) and its logged updates
    (dicts with ``"step"``, ``"lr"``, ``"loss"``, in step order; empty when the run logged none)."""

    run: Run
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def optimizer(self) -> str:
        return self.run.optimizer

    @property
    def seed(self) -> int:
        return self.run.seed

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def config(self) -> dict[str, Any]:
        return self.run.config if isinstance(self.run.config, dict) else {}

    @property
    def hyperparameters(self) -> dict[str, Any]:
        hp = self.config.get("hyperparameters")
        return dict(hp) if isinstance(hp, Mapping) else {}

    @property
    def lr(self) -> float | None:
        lr = self.hyperparameters.get("lr", self.config.get("lr"))
        return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None

    @property
    def schedule(self) -> str | None:
        """The learning-rate schedule's label (``"cosine(warmup_steps=0.1)"``): the label it was given, else its
        type; None for a constant learning rate."""
        described = self.config.get("schedule")
        if not isinstance(described, Mapping):
            return None
        label = described.get("label", described.get("type"))
        return str(label) if label is not None else None

    @property
    def batch_size(self) -> int | str | None:
        return self.config.get("batch_size")

    @property
    def trained_epochs(self) -> list[dict[str, Any]]:
        """The epochs after training began (epoch 0, an evaluation before any update, left out)."""
        return [e for e in self.epochs if (e.get("epoch") or 0) >= 1]

    def values(self, metric: str) -> np.ndarray:
        """``metric`` at every stored epoch as floats (NaN where missing or not a number)."""
        return np.array([_number(e.get(metric)) for e in self.epochs], dtype=float)

    def epoch_numbers(self) -> np.ndarray:
        return np.array([_number(e.get("epoch")) for e in self.epochs], dtype=float)

    def elapsed(self) -> np.ndarray:
        """Cumulative training seconds at the end of each stored epoch (``elapsed``, else the sum of ``seconds``)."""
        stored = self.values("elapsed")
        if len(stored) and np.isfinite(stored).all():
            return stored
        seconds = np.nan_to_num(self.values("seconds"), nan=0.0)
        return np.cumsum(seconds)

    def final(self, metric: str) -> float:
        """The value at the last stored epoch (NaN if none, or if the run did not complete)."""
        if self.status != "completed" or not self.epochs:
            return math.nan
        return _number(self.epochs[-1].get(metric))

    def best(self, metric: str, mode: str = "max") -> float:
        """The best finite value over the epochs (NaN if none) — also for runs that diverged later."""
        values = self.values(metric)
        values = values[np.isfinite(values)]
        if not len(values):
            return math.nan
        return float(values.max() if mode == "max" else values.min())


@dataclass(frozen=True)
class ExperimentData:
    experiment: Experiment
    runs: list[RunData]

    @property
    def optimizers(self) -> list[str]:
        """Optimizer names in the order they first appear."""
        return list(dict.fromkeys(r.optimizer for r in self.runs))

    @property
    def batch_sizes(self) -> list[int | str | None]:
        return list(dict.fromkeys(r.batch_size for r in self.runs))

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(r.run.task for r in self.runs))

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    @property
    def is_sweep(self) -> bool:
        """True for a kind that sweeps learning rates (sweep, lr-find), or whenever one optimizer was run at more
        than one learning rate."""
        if self.experiment.kind in KINDS and KINDS.get(self.experiment.kind).sweeps_lr:
            return True
        lrs: dict[str, set] = {}
        for r in self.runs:
            lrs.setdefault(r.optimizer, set()).add(r.lr)
        return any(len(v) > 1 for v in lrs.values())


def load(store: Store, experiment: int | str) -> ExperimentData:
    """An experiment (an id or ``"last"``) with all its runs and their epochs; UserError if there is no such id."""
    exp = store.experiment(experiment)
    return ExperimentData(exp, [RunData(run, store.epochs(run.id), store.steps(run.id)) for run in store.runs(exp.id)])


def batch_label(batch_size: int | str | None) -> str:
    """``"full"`` → ``"full batch"``, ``1`` → ``"batch 1"``, ``None`` → ``"batch ?"``."""
    if batch_size == "full":
        return "full batch"
    return f"batch {batch_size if batch_size is not None else '?'}"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]
