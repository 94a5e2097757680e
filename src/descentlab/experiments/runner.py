"""Run a list of trials and store each as it goes: spec → trials → trainer → store.

The trainer knows nothing of storage; this module connects them with a callback that writes every epoch as
soon as it ends, so an interrupted experiment keeps every finished epoch and every finished run. A trial whose
config hash is already finished in the same experiment is skipped: rerunning the same command resumes.

An experiment's identity (the spec it is found by) holds, besides what the user asked for, the fingerprint of
the data it trains on (``spec["data"]``) and how it executes (``spec["execution"]``: vectorized or not, group
size, device): a trial's numbers depend on the group it is trained in, so a resume must train it in the same
group, and another data set or execution is another experiment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from descentlab.store import FINISHED, Store, TrialClaimedError, TrialResult, TrialRow, trial_key
from descentlab.train import Callback, RunConfig, RunResult, train


@dataclass(frozen=True)
class Trial:
    config: RunConfig
    key: str

    @classmethod
    def of(cls, config: RunConfig) -> Trial:
        return cls(config, trial_key(config.to_dict()))

    def row(self) -> TrialRow:
        """What the store claims this trial by."""
        c = self.config
        return TrialRow(self.key, c.task, c.display_name, c.seed, c.to_dict())

    def stored(self, result: RunResult) -> TrialResult:
        """The finished run as the store records it."""
        c = self.config
        summary = {"error": result.error} if result.status == "failed" else summary_of(result)  # as train_stored
        return TrialResult(self.key, c.task, c.display_name, c.seed, c.to_dict(), epochs=result.epochs,
                           status=result.status, summary=summary, diverged_step=result.diverged_step,
                           steps=result.steps or ())


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


def unique_trials(configs: Sequence[RunConfig]) -> list[Trial]:
    """One trial per distinct configuration, in order of first appearance."""
    trials: dict[str, Trial] = {}
    for config in configs:
        trial = Trial.of(config)
        trials.setdefault(trial.key, trial)
    return list(trials.values())


_CODE = ("code", "descentlab")  # the parts of a trial's identity that say which code made it


def superseded(store: Store, experiment_id: int, configs: Sequence[RunConfig]) -> bool:
    """Whether the experiment holds a finished trial that is one of ``configs`` but for its code (a user's
    optimizer or task fingerprint, descentlab's version): its numbers came from other code."""
    def without_code(config: Mapping[str, Any]) -> str:
        return trial_key({k: v for k, v in config.items() if k not in _CODE})

    current = {without_code(c.to_dict()): trial_key(c.to_dict()) for c in configs}
    return any(run.status in FINISHED and current.get(without_code(run.config), run.trial_key) != run.trial_key
               for run in store.runs(experiment_id))


def pending(store: Store, experiment_id: int, configs: Sequence[RunConfig]) -> tuple[list[Trial], int]:
    """The trials still to run (in order, de-duplicated) and how many are already finished."""
    done = store.completed_trial_keys(experiment_id)
    trials = unique_trials(configs)
    todo = [t for t in trials if t.key not in done]
    return todo, len(trials) - len(todo)


def train_stored(trial: Trial, *, store: Store, experiment_id: int, splits: Any, device: str = "cpu",
                 callbacks: Sequence[Callback] = (), **options: Any) -> RunResult | None:
    """Train one trial in this process, storing it epoch by epoch (and its logged updates, if ``options`` ask
    :func:`~descentlab.train.train` for them, with its end). A run whose code raises is stored as failed with its
    error and returned as such (``status == "failed"``), so that the other runs go on; an interrupt stores it as
    failed and propagates. ``None`` when another process holds the trial, or took it over while this one trained
    it (this one's claim ran out): it is theirs to store, and nothing more is written here."""
    writer = StoreWriter(store, experiment_id, trial)
    try:
        return train(trial.config, splits=splits, device=device, callbacks=[writer, *callbacks], **options)
    except TrialClaimedError:
        return None
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


@dataclass(frozen=True)
class Opened:
    """An experiment opened for running: its id, all its trials, those still to run, how many are finished."""

    experiment_id: int
    trials: list[Trial]
    todo: list[Trial]
    done: int
    spec: dict[str, Any]

    def __iter__(self) -> Iterator[Any]:
        """``experiment_id, todo, done = open_experiment(...)``, as before there was more to say."""
        return iter((self.experiment_id, self.todo, self.done))


def experiment_identity(spec: Mapping[str, Any], *, splits: Any = None,
                        execution: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spec an experiment is stored and found by: ``spec`` plus the data's fingerprint and the execution."""
    from descentlab.data.fingerprint import fingerprint

    out = dict(spec)
    if splits is not None:
        out["data"] = fingerprint(splits)
    if execution is not None:
        out["execution"] = dict(execution)
    return out


def open_experiment(store: Store, kind: str, spec: Mapping[str, Any], configs: Sequence[RunConfig], *,
                    fresh: bool = False, env: Mapping[str, Any] | None = None, splits: Any = None,
                    execution: Mapping[str, Any] | None = None) -> Opened:
    """The experiment this spec already has in the store (so rerunning a command resumes it), or a new one
    (always, with ``fresh``; recorded with ``env``, default this machine's :func:`environment`); found or made in
    one transaction, so that two processes share it. The spec of an experiment on a user's task also holds the
    task's source and fingerprints (:func:`descentlab.tasks.external.identity`); ``splits`` and ``execution``
    become part of it too (:func:`experiment_identity`). An experiment of this spec that holds finished trials
    these configurations do not make (their code or descentlab's version changed) is not resumed: a new one is
    made, so one experiment never mixes results of two versions of the code."""
    from descentlab.environment import environment
    from descentlab.tasks import get_task
    from descentlab.tasks.external import identity

    # a user's task is identified by where it came from and the fingerprints of its code and data, not its name
    tasks = list(dict.fromkeys(c.task for c in configs))
    spec = {**spec, **(identity(get_task(tasks[0])) if len(tasks) == 1 else {})}
    full = experiment_identity(spec, splits=splits, execution=execution)
    experiment_id, created = store.find_or_create_experiment(kind, full, environment() if env is None else env,
                                                             fresh=fresh)
    if not created and superseded(store, experiment_id, configs):
        # The spec matches but the experiment holds these trials as made by other code (a user optimizer's file
        # was edited, descentlab was upgraded): resuming would put the old code's results beside the new ones
        # in one table, so these trials are another experiment.
        # (another process doing the same at once may have made it already: then it is shared)
        experiment_id, _ = store.find_or_create_experiment(kind, full, environment() if env is None else env,
                                                           fresh=True, newer_than=experiment_id)
    todo, done = pending(store, experiment_id, configs)
    return Opened(experiment_id, unique_trials(configs), todo, done, full)
