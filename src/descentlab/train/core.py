"""The training protocol every trainer follows: one place for what a run records and when it stops.

The single-run loop (:mod:`descentlab.train.loop`) and the vectorized trainer (:mod:`descentlab.train.vectorized`)
differ only in how they compute a step (one model, or K stacked copies). Everything a run *means* is here, and
both call it:

- **the per-epoch record** (:func:`epoch_record`, keys in :data:`RECORD_KEYS`): ``epoch`` (1-based),
  ``train_loss`` / ``train_acc`` (over the epoch's batches, weighted by batch size, with the weights as they were
  at each step), ``val_loss`` / ``val_acc`` / ``test_loss`` / ``test_acc`` (evaluated after the epoch; ``None``
  when a split is empty), ``lr`` (of the epoch's last update), ``seconds`` (training wall time of the epoch),
  ``eval_seconds``, ``elapsed`` (cumulative training seconds), ``steps`` (cumulative updates), ``steps_per_s``,
  ``state_bytes`` (the optimizer state's tensors), ``peak_memory_bytes`` (:mod:`descentlab.train.memory`),
  ``shared_by`` (how many runs the timings belong to: 1 for a run trained alone, K for a vectorized pass);
- **time to target** (:class:`RunTracker`): the first epoch whose ``val_acc`` reaches the task's target (for a
  task whose metric is the loss, regression, the first whose ``val_loss`` is at or below its ``target_val_loss``),
  with the training seconds and updates spent until then;
- **accuracies** (``train_acc``, ``val_acc``, ``test_acc``) are ``None`` for a task whose metric is the loss:
  there is no class to get right, the losses are the measure;
- **divergence** (:class:`Divergence`), the same rule in every trainer. A run diverges at the first check where

  1. its training loss is not finite (tested every ``check_every`` updates, and on each epoch's total), or
  2. its epoch's mean training loss exceeds ``DIVERGENCE_FACTOR`` (100) × its *starting loss*, the mean loss of
     the initial weights over the first ``START_EXAMPLES`` (4096) examples of the training split, in their stored
     order (computed once, before the first update; a fixed subset, because a whole pass over a large training
     split cost a 1-epoch vectorized sweep a third of its wall time, and 4096 examples pin a mean loss well enough
     for a factor of 100). A loss of 1e9, or
     one that grew from 2.3 to 500, has exploded although it is finite: such a run is not "completed" and can
     never be chosen as best. (Skipped when the starting loss is not a positive finite number.)

  A diverged run stops; ``diverged_step`` is the update at which the test failed and the epoch in which it
  diverged is not reported;
- **the learning rate of an update** (:func:`lr_at`): the run's schedule at that 0-based update, else its
  constant ``lr``; both trainers write it before the update, so a schedule means the same everywhere;
- **the updates of a run** (:func:`total_updates`): ``epochs × ceil(n_train / batch size)``, the horizon a
  schedule is resolved against;
- **logged updates** (:class:`StepLog`): with ``log_steps``, each kept update's ``{"step", "lr", "loss"}``; a
  run of more than ``limit`` updates keeps every ``stride``-th one and its last (see :class:`StepLog`);
- **per-update callbacks**: a :class:`~descentlab.train.callbacks.Callback` that declares ``per_step = True``
  receives ``on_step(step, lr, loss)`` after every update's forward pass, before the update, and may end the
  run there (the learning-rate range test is such a callback).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from descentlab.tasks import Task
from descentlab.train.callbacks import Callback
from descentlab.train.config import RunConfig

DIVERGENCE_FACTOR = 100.0
START_EXAMPLES = 4096
RECORD_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
               "eval_seconds", "elapsed", "steps", "steps_per_s", "state_bytes", "peak_memory_bytes", "shared_by")


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s permutation: a function of (seed, epoch) alone, so resuming needs no
    saved generator state and no two (seed, epoch) pairs share a stream."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


@contextlib.contextmanager
def run_random_stream(seed: int, device: torch.device) -> Iterator[None]:
    """Inside, torch's global generators (the CPU's, and ``device``'s when it is CUDA) are the run's own stream,
    seeded from ``seed`` alone; on exit they are as they were. Random layers (dropout) draw from it, so a run's
    numbers never depend on what trained before it in the process (its group, the grouping, a resume). The stream
    is distinct from the weights' (``seed`` itself) and the data order's (:func:`epoch_generator`)."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        state = np.random.SeedSequence(seed, spawn_key=(1,)).generate_state(2, np.uint32)
        torch.manual_seed(int(state[0]) << 31 ^ int(state[1]))
        yield


def permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which a run with ``seed`` visits ``n`` training examples in ``epoch``."""
    return torch.randperm(n, generator=epoch_generator(seed, epoch))


def batch_size_of(config: RunConfig, n: int) -> int:
    """The number of examples per update: all ``n`` for batch gradient descent, else the configured size."""
    return n if config.batch_size == "full" else min(int(config.batch_size), n)


def lr_at(config: RunConfig, step: int) -> float | None:
    """The learning rate of the 0-based update ``step``: the schedule's value, else the constant ``lr``."""
    if config.schedule is not None:
        return float(config.schedule(step))
    return config.hyperparameters.get("lr")


def total_updates(config: RunConfig, n: int) -> int:
    """The updates a run of ``config`` makes over ``n`` training examples: ``epochs × ceil(n / batch size)``."""
    return config.epochs * -(-n // batch_size_of(config, n))


@dataclass(frozen=True)
class StepLog:
    """Which updates of a run of ``total`` updates are logged: every one when ``limit`` is ``None`` or
    ``total ≤ limit``; else the 0-based steps that are multiples of ``stride = ceil(total / (limit − 1))``, and
    the last one (``total − 1``), at most ``limit`` in all, evenly spaced, the first and the last included.
    A rule of the step alone, so an interrupted and resumed run logs the same steps."""

    total: int
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 2):
            raise ValueError(f"StepLog: limit must be None or an integer >= 2, got {self.limit!r}")

    @functools.cached_property  # keeps() runs on every update of the training loop
    def stride(self) -> int:
        if self.limit is None or self.total <= self.limit:
            return 1
        return -(-self.total // (self.limit - 1))

    def keeps(self, step: int) -> bool:
        return step % self.stride == 0 or step == self.total - 1


@dataclass
class Divergence:
    """The divergence rule of the module docstring, for one run."""

    start_loss: float | None = None
    factor: float = DIVERGENCE_FACTOR

    def exploded(self, mean_loss: float) -> bool:
        """Whether an epoch's mean training loss says the run diverged (rule 1 or 2)."""
        if not math.isfinite(mean_loss):
            return True
        start = self.start_loss
        return start is not None and math.isfinite(start) and start > 0 and mean_loss > self.factor * start


@dataclass
class RunTracker:
    """What one run has recorded so far: its epochs, when it reached the target, whether it diverged."""

    target: float | None
    divergence: Divergence = field(default_factory=Divergence)
    history: list[dict[str, Any]] = field(default_factory=list)
    reached: dict[str, Any] | None = None
    diverged: int | None = None
    metric: str = "val_acc"  # what the target is of: "val_acc" (reached at or above) or "val_loss" (at or below)

    @classmethod
    def of(cls, task: Task) -> RunTracker:
        """The tracker of a run of ``task``: its target is a validation accuracy, or for a task whose metric is
        the loss (regression) a validation loss."""
        if task.metric == "loss":
            return cls(task.target_val_loss, metric="val_loss")
        return cls(task.target_val_acc)

    def add(self, record: dict[str, Any]) -> None:
        """Append a finished epoch's record and note the first epoch that reaches the target."""
        self.history.append(record)
        value = record.get(self.metric)
        if self.reached is None and self.target is not None and value is not None and (
                value <= self.target if self.metric == "val_loss" else value >= self.target):
            self.reached = {"epoch": record["epoch"], "seconds": record["elapsed"], "steps": record["steps"]}

    @property
    def status(self) -> str:
        return "diverged" if self.diverged is not None else "completed"


def epoch_record(*, epoch: int, train_loss: float, train_acc: float | None, val: tuple[Any, Any], test: tuple[Any, Any],
                 lr: Any, seconds: float, eval_seconds: float, elapsed: float, steps: int, epoch_steps: int,
                 state_bytes: int, peak_memory_bytes: int | None, shared_by: int) -> dict[str, Any]:
    """One epoch's metrics, in the one schema every trainer writes (see the module docstring)."""
    return {
        "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
        "val_loss": val[0], "val_acc": val[1], "test_loss": test[0], "test_acc": test[1],
        "lr": lr, "seconds": seconds, "eval_seconds": eval_seconds, "elapsed": elapsed, "steps": steps,
        "steps_per_s": epoch_steps / max(seconds, 1e-12), "state_bytes": state_bytes,
        "peak_memory_bytes": peak_memory_bytes, "shared_by": shared_by,
    }


def step_callbacks(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks that declared they want every update (``per_step = True``)."""
    return [cb for cb in callbacks if getattr(cb, "per_step", False)]

