"""Learning-rate schedules in experiments: a spec's ``schedules`` (texts such as ``"cosine(warmup_steps=0.05)"``)
resolved into each run's configuration, and the updates a scheduled run logs.

Every schedule is resolved per run (:meth:`~descentlab.schedules.spec.ScheduleSpec.resolve`) at the run's
learning rate and over the run's real number of updates, ``epochs × ceil(n_train / batch size)``
(:func:`~descentlab.train.core.total_updates`), so runs at batch sizes ``full``, ``1`` and ``32`` each end their
schedule with their last update. The resolved schedule, label and numbers, is part of the run's identity
(:meth:`~descentlab.train.RunConfig.to_dict`): resuming never mixes runs of different schedules.

A run with a schedule logs its updates' ``{"step", "lr", "loss"}`` (at most :data:`MAX_LOGGED_STEPS`, thinned by
:class:`~descentlab.train.core.StepLog`), stored in the store's ``steps`` table: the lr actually used, which the
report plots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from descentlab.schedules.spec import ScheduleSpec
from descentlab.tasks import get_task
from descentlab.train import RunConfig
from descentlab.train.core import total_updates

MAX_LOGGED_STEPS = 1000


def train_size(task: str, data_dir: str | None, config: RunConfig) -> int:
    """The number of training examples a run of ``config`` sees (the task's data, split as the run splits it)."""
    splits = get_task(task).load(data_dir=data_dir, val_fraction=config.val_fraction, seed=config.data_seed)
    return len(splits.y_train)


def scheduler(task: str, data_dir: str | None, n_train: int | None = None
              ) -> Callable[[RunConfig, ScheduleSpec | None], RunConfig]:
    """A function ``(config, spec) -> config`` with ``spec`` resolved for that run (``config`` itself when ``spec``
    is None). The training split's size is ``n_train``, else read from the task's data once, when first needed."""
    known: dict[tuple[float, int], int] = {}

    def apply(config: RunConfig, spec: ScheduleSpec | None) -> RunConfig:
        if spec is None:
            return config
        key = (config.val_fraction, config.data_seed)
        if key not in known:
            known[key] = n_train if n_train is not None else train_size(task, data_dir, config)
        schedule = spec.resolve(config.hyperparameters.get("lr"), total_updates(config, known[key]))
        return dataclasses.replace(config, schedule=schedule)

    return apply


def step_logging(configs: Sequence[RunConfig]) -> dict[str, Any]:
    """The trainer options for ``configs``: every run logs its updates' lr and batch loss, thinned to at most
    ``MAX_LOGGED_STEPS`` evenly spaced ones (:class:`~descentlab.train.core.StepLog`), for the report's
    per-update curves and schedule plot (one synchronisation per logged update: ≤ 1000 a run)."""
    return {"log_steps": True, "max_logged": MAX_LOGGED_STEPS}
