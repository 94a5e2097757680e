"""Run a list of trials and store each as it goes: spec → trials → trainer → store.

The trainer knows nothing of storage; this module connects them with a callback that writes every epoch as
soon as it ends, so an interrupted experiment keeps every finished epoch and every finished run. A trial whose
config hash is already finished in the same experiment is skipped: rerunning the same command resumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from descentlab.store import Store, trial_key
from descentlab.train import Callback, RunConfig, RunResult, train


@dataclass(frozen=True)
class Trial:
    config: RunConfig
    key: str

    @classmethod
    def of(cls, config: RunConfig) -> Trial:
        return cls(config, trial_key(config.to_dict()))


class StoreWriter(Callback):
    """Writes one run into the store, epoch by epoch."""

    def __init__(self, store: Store, experiment_id: int, trial: Trial) -> None:
        self.store, self.experiment_id, self.trial = store, experiment_id, trial
        self.run_id: int | None = None

    def on_run_start(self, config: RunConfig) -> None:
        self.run_id = self.store.start_run(self.experiment_id, self.trial.key, task=config.task,
                                           optimizer=config.display_name, seed=config.seed, config=config.to_dict())

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        assert self.run_id is not None
        self.store.record_epoch(self.run_id, epoch, metrics)

    def on_run_end(self, result: RunResult) -> None:
        assert self.run_id is not None
        self.store.finish_run(self.run_id, result.status, summary_of(result), diverged_step=result.diverged_step,
                              steps=result.steps or ())


def summary_of(result: RunResult) -> dict[str, Any]:
    """What a run's row carries besides its epochs: final and best numbers and time-to-target."""
    last = result.epochs[-1] if result.epochs else {}
    vals = [e["val_acc"] for e in result.epochs if e.get("val_acc") is not None]
    return {
        "epochs_completed": len(result.epochs),
        "final": {k: last.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")},
        "best_val_acc": max(vals) if vals else None,
        "seconds": last.get("elapsed"),
        "steps": last.get("steps"),
        "state_bytes": last.get("state_bytes"),
        "time_to_target": result.time_to_target,
        "engine": result.engine,
    }


def pending(store: Store, experiment_id: int, configs: Sequence[RunConfig]) -> tuple[list[Trial], int]:
    """The trials still to run (in order, de-duplicated) and how many are already finished."""
    done = store.completed_trial_keys(experiment_id)
    seen: set[str] = set()
    todo: list[Trial] = []
    for config in configs:
        trial = Trial.of(config)
        if trial.key in seen:
            continue
        seen.add(trial.key)
        if trial.key not in done:
            todo.append(trial)
    return todo, len(seen) - len(todo)


def train_stored(trial: Trial, *, store: Store, experiment_id: int, splits: Any, device: str = "cpu",
                 callbacks: Sequence[Callback] = (), **options: Any) -> RunResult:
    """Train one trial in this process, storing it epoch by epoch (and its logged updates, if ``options`` ask
    :func:`~descentlab.train.train` for them, with its end). A run whose code raises is stored as failed with its
    error and returned as such (``status == "failed"``), so that the other runs go on; an interrupt stores it as
    failed and propagates."""
    writer = StoreWriter(store, experiment_id, trial)
    try:
        return train(trial.config, splits=splits, device=device, callbacks=[writer, *callbacks], **options)
    except Exception as exc:  # the user's optimizer or model raised: this run failed, the others go on
        error = error_text(exc)
        if writer.run_id is None:
            writer.on_run_start(trial.config)
        store.finish_run(writer.run_id, "failed", {"error": error})
        return RunResult(trial.config, "failed", [], error=error)
    except BaseException as exc:  # interrupted (Ctrl-C, exit): stored as failed, and the command stops
        if writer.run_id is not None:
            store.finish_run(writer.run_id, "failed", {"error": error_text(exc)})
        raise


def error_text(exc: BaseException) -> str:
    """How a failed run's error is stored and shown: its type and the first line of its message."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def open_experiment(store: Store, kind: str, spec: dict[str, Any], configs: Sequence[RunConfig], *,
                    fresh: bool = False, env: Mapping[str, Any] | None = None) -> tuple[int, list[Trial], int]:
    """The experiment this spec already has in the store (so rerunning a command resumes it), or a new one
    (always, with ``fresh``; recorded with ``env``, default this machine's :func:`environment`); with its trials
    still to run and how many are already finished. The spec of an experiment on a user's task also holds the
    task's source and fingerprints (:func:`descentlab.tasks.external.identity`)."""
    from descentlab.environment import environment
    from descentlab.tasks import get_task
    from descentlab.tasks.external import identity

    # a user's task is identified by where it came from and the fingerprints of its code and data, not its name
    tasks = list(dict.fromkeys(c.task for c in configs))
    spec = {**spec, **(identity(get_task(tasks[0])) if len(tasks) == 1 else {})}
    experiment_id = None if fresh else store.find_experiment_by_spec(kind, spec)
    if experiment_id is None:
        experiment_id = store.create_experiment(kind, spec, environment() if env is None else env)
    todo, done = pending(store, experiment_id, configs)
    return experiment_id, todo, done
