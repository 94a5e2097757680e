"""A stored experiment as TensorBoard event files: one TensorBoard run per stored run.

Read from the store only (:func:`descentlab.report.data.load`), written with ``torch.utils.tensorboard`` (which
needs the ``tensorboard`` package, the ``export`` extra). For each run, in ``<folder>/<run name>/``:

- ``epoch/<metric>`` — every numeric metric of every stored epoch (``val_loss``, ``val_acc``, ``seconds``, …)
  at step = the epoch (epoch 0: the evaluation before any update, when stored);
- ``update/<name>`` — the logged updates (the store's ``steps`` table: ``loss``, ``lr``) at step = the update;
- the HParams plugin's data: the run's hyperparameters (optimizer, its values, batch size, schedule, seed,
  task, epochs, status) and, as its metrics, ``final/<metric>`` — the last stored epoch's value of each metric.

A run is named ``run-<id>_<variant>[_<schedule>]_lr<lr>_batch<size>_seed<seed>``, made safe for a folder name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from descentlab.grid import extras_of, variant_label
from descentlab.report.data import ExperimentData, RunData
from descentlab.store.export import flatten, optional

EPOCH, UPDATE, FINAL = "epoch/", "update/", "final/"


def run_name(run: RunData, grid: Sequence[str] = ()) -> str:
    """The run's folder: its id, its variant (the optimizer and its values of the ``grid`` names), schedule,
    learning rate, batch size and seed."""
    parts = [f"run-{run.run.id}", variant_label(run.optimizer, extras_of(run.hyperparameters, list(grid))),
             run.schedule or "",
             f"lr{run.lr:g}" if run.lr is not None else "", f"batch{run.batch_size}", f"seed{run.seed}"]
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", "_".join(p for p in parts if p))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _hparam(value: Any) -> Any:
    """A value the HParams plugin holds (a number, a bool or a text); lists and the like as text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def hyperparameters(run: RunData) -> dict[str, Any]:
    """What the HParams plugin shows of ``run``: its setting, then its optimizer's values (``hp.<name>``)."""
    config = run.config
    fixed = {"optimizer": run.optimizer, "schedule": run.schedule or "constant", "lr": run.lr,
             "batch_size": str(run.batch_size), "seed": run.seed, "task": config.get("task"),
             "epochs": config.get("epochs"), "status": run.status}
    values = {f"hp.{k}": v for k, v in flatten(run.hyperparameters).items() if k != "lr"}
    return {k: _hparam(v) for k, v in {**fixed, **values}.items() if v is not None}


def final_metrics(run: RunData) -> dict[str, float]:
    last = run.epochs[-1] if run.epochs else {}
    return {f"{FINAL}{k}": v for k, value in last.items() if k != "epoch" and (v := _number(value)) is not None}


def write_tensorboard(data: ExperimentData, folder: str | Path) -> list[Path]:
    """Write one TensorBoard run per run of ``data`` under ``folder``; the run folders, in run order."""
    optional("tensorboard", "a TensorBoard export")
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    grid = list(spec.get("grid") or ())
    written: list[Path] = []
    for run in data.runs:
        path = Path(folder) / run_name(run, grid)
        writer = SummaryWriter(log_dir=str(path))
        try:
            for epoch in run.epochs:
                for name, value in epoch.items():
                    if name != "epoch" and (v := _number(value)) is not None:
                        writer.add_scalar(EPOCH + name, v, int(epoch["epoch"]))
            for step in run.steps:
                for name, value in step.items():
                    if name != "step" and (v := _number(value)) is not None:
                        writer.add_scalar(UPDATE + name, v, int(step["step"]))
            metrics = final_metrics(run)
            # the plugin's three summaries, in this run's own file (add_hparams would open a second run for them)
            file_writer = writer.file_writer
            assert file_writer is not None  # opened by SummaryWriter.__init__
            for summary in hparams(hyperparameters(run), metrics):
                file_writer.add_summary(summary)
            last = int(run.epochs[-1]["epoch"]) if run.epochs else 0
            for name, value in metrics.items():
                if math.isfinite(value):
                    writer.add_scalar(name, value, last)
        finally:
            writer.close()
        written.append(path)
    return written
