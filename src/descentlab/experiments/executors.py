"""Executors: where the trials of an experiment train. The driver (this process) is the only writer of the store.

The unit of work is a *group*, planned by :func:`plan_groups` from ALL the trials of the experiment (never from
the ones still pending), so a trial is always trained with the same companions: a vectorized pass's numbers
depend on its members, and a resume must reproduce the uninterrupted run bit for bit. Before training a group
the driver claims it in the store (one transaction; a group another live process holds is left to it and
waited for at the end, a stale one taken over); a group with any member unfinished is trained again whole, and
only its unfinished members are written. ``identity()`` is what the experiment's spec records of the execution.

- :class:`LocalExecutor` — in this process. Trials that can share a pass (same task, batch size, epochs) are
  trained together by the vectorized trainer, ``group_size`` at a time, and the group's runs are written with
  ``store.record_runs`` in ONE transaction as it ends (all members or none). A group of one, and every trial
  with ``vectorize=False``, is trained by the single-run loop and stored epoch by epoch. A run whose code raises
  (a user's network, say) is stored as ``failed`` with its error and the others go on; a vectorized pass that
  raises is trained again one run at a time, to find which runs fail.
- :class:`RayExecutor` — the same groups become Ray tasks, each declaring its resources (``num_cpus``, and one GPU
  when the device is CUDA). A task trains its group and returns plain dicts; the driver writes each result as its
  task finishes (a ``ray.wait`` loop). The data is put in Ray's object store once and shared by the tasks. A
  task treats a run whose code raises as the local executor does (it comes back failed, with its error); a
  task Ray itself cannot finish (its worker died past Ray's retries) is one line, and resume trains it again.
  ``address`` joins a running cluster (``ray.init(address=...)``), whose workers need descentlab installed;
  without it a local Ray instance is started with ``num_cpus``.

Both call ``on_result(trial, result)`` after a run is stored (in this process), pass ``callbacks(trial)`` to
runs trained one by one in this process (live progress), and ``on_wait(trials, holder)`` once when they wait
for groups another process trains. ``run`` returns what it did (:class:`Outcome`).

>>> executor = make_executor("local", vectorize=True)                                        # doctest: +SKIP
>>> executor.run(trials, store=store, experiment_id=eid, splits=splits, on_result=print)     # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from descentlab.errors import UserError
from descentlab.experiments.runner import Trial, error_text, train_stored
from descentlab.experiments.scheduling import step_logging
from descentlab.store import Store, TrialResult
from descentlab.train import Callback, RunConfig, RunResult, train

EXECUTORS = ("local", "ray")
DEFAULT_GROUP_SIZE = 16
POLL_SECONDS = 1.0  # how often a driver looks whether the groups another process holds are done
OnResult = Callable[[Trial, RunResult], None]
Callbacks = Callable[[Trial], Sequence[Callback]]
OnWait = Callable[[Sequence[Trial], str], None]
RAY_MISSING = "--executor ray needs Ray, an optional dependency: pip install 'descentlab[ray]'"


def vectorized_trainer() -> ModuleType | None:
    """The vectorized trainer module, or ``None`` when it cannot be imported."""
    try:
        from descentlab.train import vectorized
    except ImportError:
        return None
    usable = hasattr(vectorized, "train_vectorized") and hasattr(vectorized, "vectorizable_groups")
    return vectorized if usable else None


def plan_groups(trials: Sequence[Trial], *, vectorize: bool, group_size: int = DEFAULT_GROUP_SIZE) -> list[list[Trial]]:
    """The trials split into units of work: vectorizable groups of at most ``group_size``, else one per trial."""
    vec = vectorized_trainer() if vectorize else None
    if vec is None:
        return [[t] for t in trials]
    return [[trials[i] for i in group]
            for group in vec.vectorizable_groups([t.config for t in trials], max_size=group_size)]


def train_group(configs: Sequence[RunConfig], splits: Any, *, device: str = "cpu", vectorize: bool = True
                ) -> list[RunResult]:
    """Train a group: in one vectorized pass when there are several and they can share one, else one by one.
    Every run logs its updates, thinned (:func:`~descentlab.experiments.scheduling.step_logging`)."""
    vec = vectorized_trainer() if vectorize and len(configs) > 1 else None
    logging = step_logging(configs)
    if vec is not None:
        try:
            return vec.train_vectorized(configs, splits=splits, device=device, **logging)
        except UserError:  # e.g. a model with buffers: train these one by one instead
            pass
    return [train(c, splits=splits, device=device, **logging) for c in configs]


def store_group(store: Store, experiment_id: int, group: Sequence[Trial], results: Sequence[RunResult]
                ) -> list[bool]:
    """Write a trained group in ONE transaction; per trial, whether it was written (False: another process had
    finished it already, so it is not stored twice)."""
    ids = store.record_runs(experiment_id, [t.stored(r) for t, r in zip(group, results)])
    return [run_id is not None for run_id in ids]


def store_failed(store: Store, experiment_id: int, group: Sequence[Trial], exc: BaseException) -> None:
    """Record every member of a group that raised as failed (one transaction), so that resume runs it again."""
    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    store.record_runs(experiment_id, [TrialResult(t.key, t.config.task, t.config.display_name, t.config.seed,
                                                  t.config.to_dict(), status="failed", summary={"error": error})
                                      for t in group])


@dataclass
class Outcome:
    """What an executor did: trials it trained and stored, trials it found finished by another process, and
    trials it waited for because another process was training them."""

    trained: int = 0
    finished_elsewhere: int = 0
    waited: int = 0
    holders: set[str] = field(default_factory=set)


class _Claims:
    """Claims groups in the store, one at a time: :meth:`free` yields those it could claim (skipping finished
    ones, setting aside those another live process holds); :meth:`waited` then polls the set-aside ones until
    each is finished or its holder is gone (then it is claimed and yielded)."""

    def __init__(self, store: Store, experiment_id: int, groups: Sequence[Sequence[Trial]], outcome: Outcome,
                 on_wait: OnWait) -> None:
        self.store, self.experiment_id, self.outcome, self.on_wait = store, experiment_id, outcome, on_wait
        done = store.completed_trial_keys(experiment_id)
        self.groups = [g for g in groups if any(t.key not in done for t in g)]
        self.busy: list[tuple[Sequence[Trial], str]] = []

    def _claim(self, group: Sequence[Trial]):
        return self.store.claim(self.experiment_id, [t.row() for t in group])

    def free(self) -> Iterator[Sequence[Trial]]:
        for group in self.groups:
            claim = self._claim(group)
            if claim.status == "claimed":
                yield group
            elif claim.status == "busy":
                self.busy.append((group, claim.holder or "another process"))
            else:
                self.outcome.finished_elsewhere += len(group)

    def waited(self) -> Iterator[Sequence[Trial]]:
        if not self.busy:
            return
        trials = [t for g, _ in self.busy for t in g]
        self.outcome.waited += len(trials)
        self.outcome.holders.update(h for _, h in self.busy)
        self.on_wait(trials, ", ".join(sorted({h for _, h in self.busy})))
        while self.busy:
            time.sleep(POLL_SECONDS)
            still = []
            for group, holder in self.busy:
                claim = self._claim(group)
                if claim.status == "claimed":
                    yield group
                elif claim.status == "busy":
                    still.append((group, holder))
            self.busy = still


def _check_device(device: str) -> None:
    try:
        torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None


def _identity(vectorize: bool, group_size: int, device: str) -> dict[str, Any]:
    vectorized = vectorize and vectorized_trainer() is not None
    return {"vectorize": vectorized, "group_size": group_size if vectorized else 1, "device": device}


class LocalExecutor:
    """Train in this process; see the module docstring."""

    def __init__(self, *, vectorize: bool = True, device: str = "cpu", group_size: int = DEFAULT_GROUP_SIZE) -> None:
        _check_device(device)
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine")
        self.vectorize, self.device, self.group_size = vectorize, device, group_size

    def identity(self) -> dict[str, Any]:
        """How trials execute, for the experiment's spec: what a trial's numbers depend on besides its config."""
        return _identity(self.vectorize, self.group_size, self.device)

    def run(self, trials: Sequence[Trial], *, store: Store, experiment_id: int, splits: Any,
            on_result: OnResult = lambda t, r: None, callbacks: Callbacks = lambda t: (),
            on_wait: OnWait = lambda trials, holder: None, options: Mapping[str, Any] | None = None) -> Outcome:
        """Train the groups of ``trials`` (all the experiment's trials) that are not finished yet. ``options``:
        trainer options of every run (:func:`~descentlab.train.train`'s ``max_steps``, ``log_steps``, …, over the
        executor's own step logging), for runs trained one at a time (``vectorize=False``)."""
        if options and self.vectorize:
            raise ValueError("trainer options are for runs trained one at a time: make the executor with "
                             "vectorize=False")
        outcome = Outcome()
        claims = _Claims(store, experiment_id, plan_groups(trials, vectorize=self.vectorize,
                                                           group_size=self.group_size), outcome, on_wait)
        for source in (claims.free, claims.waited):
            for group in source():
                self._train(group, store, experiment_id, splits, outcome, on_result, callbacks, options or {})
        return outcome

    def _train(self, group: Sequence[Trial], store: Store, experiment_id: int, splits: Any, outcome: Outcome,
               on_result: OnResult, callbacks: Callbacks, options: Mapping[str, Any]) -> None:
        trained = None
        if len(group) > 1:
            try:
                trained = train_group([t.config for t in group], splits, device=self.device)
            except UserError:
                raise
            except Exception:  # noqa: BLE001 - e.g. a user's model raised: find which runs fail, one by one
                trained = None
            except BaseException as exc:  # interrupted: the group is stored failed, resume trains it again
                store_failed(store, experiment_id, group, exc)
                raise
        if trained is None:  # one by one: a run whose code raises is stored failed, the others go on
            done = store.completed_trial_keys(experiment_id)  # (a resumed fallback: some may be finished)
            for trial in group:
                if trial.key in done:
                    continue
                result = train_stored(trial, store=store, experiment_id=experiment_id, splits=splits,
                                      device=self.device, callbacks=callbacks(trial),
                                      **{**step_logging([trial.config]), **options})
                if result is None:  # taken over by another process (this one's claim ran out): theirs to store
                    outcome.finished_elsewhere += 1
                    continue
                outcome.trained += 1
                on_result(trial, result)
            return
        for trial, result, written in zip(group, trained, store_group(store, experiment_id, group, trained)):
            if written:
                outcome.trained += 1
                on_result(trial, result)


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


USER_MODULES = "descentlab_user_"  # the prefix of modules loaded from a user's file (optim/ and tasks/external.py)


def _user_task(configs: Sequence[RunConfig]) -> Any:
    """The task object to ship to Ray's workers when it is a user's (from a file, data or Python; a worker knows
    only the registered built-ins by name), else ``None``. The code of files the user's objects come from is
    pickled by value, so a worker needs neither the file nor the module (a remote cluster included)."""
    from descentlab.tasks import get_task
    from descentlab.tasks.external import identity

    task = get_task(configs[0].task)
    if not identity(task):
        return None
    import ray.cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith(USER_MODULES):
            ray.cloudpickle.register_pickle_by_value(module)
    return task


def train_each(configs: Sequence[RunConfig], splits: Any, *, device: str = "cpu") -> list[RunResult]:
    """Train ``configs`` one by one, as :func:`train_group` does; a run whose code raises is a ``failed`` result
    with its error (as :func:`~descentlab.experiments.runner.train_stored` stores it) and the others go on."""
    logging = step_logging(configs)
    results = []
    for config in configs:
        try:
            results.append(train(config, splits=splits, device=device, **logging))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's optimizer or model raised: this run failed
            results.append(RunResult(config, "failed", [], error=error_text(exc)))
    return results


def _ray_task(configs: list[RunConfig], splits: Any, device: str, vectorize: bool, threads: int,
              task: Any = None) -> list[dict]:
    """Body of one Ray task: train a group, return plain results (no model) in the group's order. ``task``: a
    user's task, registered in this worker before training. As in :meth:`LocalExecutor._train`, a vectorized
    pass that raises is trained again one run at a time, and a run whose code raises comes back failed."""
    torch.set_num_threads(max(1, threads))
    if task is not None:
        from descentlab.tasks.external import add

        add(task)
    results = None
    if vectorize and len(configs) > 1:
        try:
            results = train_group(configs, splits, device=device, vectorize=vectorize)
        except UserError:
            raise
        except Exception:  # noqa: BLE001 - e.g. a user's model raised: find which runs fail, one by one
            results = None
    if results is None:
        results = train_each(configs, splits, device=device)
    return [{"status": r.status, "epochs": r.epochs, "diverged_step": r.diverged_step,
             "time_to_target": r.time_to_target, "engine": r.engine, "steps": r.steps, "error": r.error}
            for r in results]


def _check_reachable(address: str) -> None:
    """UserError unless a TCP connection to the Ray cluster's ``host:port`` (``ray://host:port`` too) opens within
    a few seconds: ``ray.init`` itself retries an unreachable address for minutes, printing its own warnings.
    ``auto`` and addresses without a port are left to Ray."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = where.hostname, where.port
    except ValueError:  # a port that is not a number
        raise UserError(f"--ray-address {address!r} is not HOST:PORT (or ray://HOST:PORT, or auto)") from None
    if not host or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}; start it (ray start "
                        "--head) or fix --ray-address") from None


class RayExecutor:
    """Each group is a Ray task; the driver writes the results. See the module docstring."""

    def __init__(self, *, vectorize: bool = True, device: str = "cpu", group_size: int = DEFAULT_GROUP_SIZE,
                 address: str | None = None, num_cpus: int | None = None, cpus_per_task: int = 1) -> None:
        self.ray = _ray()
        _check_device(device)
        if cpus_per_task < 1:
            raise UserError(f"--cpus-per-task {cpus_per_task} must be ≥ 1")
        if address:
            _check_reachable(address)  # before anything trains or is stored
        self.vectorize, self.device, self.group_size = vectorize, device, group_size
        self.address, self.num_cpus, self.cpus_per_task = address, num_cpus, cpus_per_task

    def _init(self) -> bool:
        """Connect (or start a local instance); True when this call did, so that :meth:`run` shuts it down."""
        ray = self.ray
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
        # ray.init puts its own SIGTERM handler in this process (it dumps a C stack and aborts): the command's
        # (stop as Ctrl-C does: descentlab.cli) or the default is put back after it.
        in_main = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if in_main else None
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count() or 1, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
            raise UserError(f"cannot start or join {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if sigterm is None else sigterm)
        return True

    def identity(self) -> dict[str, Any]:
        """As :meth:`LocalExecutor.identity`: a Ray task trains a group exactly as the local executor does."""
        return _identity(self.vectorize, self.group_size, self.device)

    def run(self, trials: Sequence[Trial], *, store: Store, experiment_id: int, splits: Any,
            on_result: OnResult = lambda t, r: None, callbacks: Callbacks = lambda t: (),
            on_wait: OnWait = lambda trials, holder: None) -> Outcome:
        outcome = Outcome()
        claims = _Claims(store, experiment_id, plan_groups(trials, vectorize=self.vectorize,
                                                           group_size=self.group_size), outcome, on_wait)
        if not claims.groups:
            return outcome
        ray, started = self.ray, self._init()
        try:
            task = ray.remote(_ray_task)
            gpus = 1 if torch.device(self.device).type == "cuda" else 0
            data = ray.put(splits)
            user_task = ray.put(_user_task([t.config for t in trials]))

            def submit(group: Sequence[Trial]) -> Any:
                return (task.options(num_cpus=self.cpus_per_task, num_gpus=gpus)
                        .remote([t.config for t in group], data, self.device, self.vectorize, self.cpus_per_task,
                                user_task))

            # Everything free is submitted at once; groups held by another process are waited for after ours are
            # written (waiting before writing could deadlock two drivers waiting for each other).
            waiting = {submit(g): g for g in claims.free()}
            self._collect(waiting, store, experiment_id, outcome, on_result)
            for group in claims.waited():
                self._collect({submit(group): group}, store, experiment_id, outcome, on_result)
            return outcome
        finally:
            if started:
                ray.shutdown()

    def _collect(self, waiting: dict, store: Store, experiment_id: int, outcome: Outcome, on_result: OnResult
                 ) -> None:
        """Write each group's results as its task finishes (a ``ray.wait`` loop)."""
        ray = self.ray
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1)
            group = waiting.pop(ready[0])
            try:
                plain = ray.get(ready[0])
            except Exception as exc:  # a UserError raised in the task, or Ray's own (a worker died past retries)
                for ref in waiting:
                    ray.cancel(ref)
                store_failed(store, experiment_id, group, exc)
                cause = getattr(exc, "cause", None)
                if isinstance(cause, UserError):
                    raise UserError(str(cause)) from None
                raise UserError(f"a Ray task failed ({error_text(exc)}); the runs already finished are stored: run "
                                "the same command again to resume") from None
            results = [RunResult(t.config, p["status"], p["epochs"], p["diverged_step"], p["time_to_target"],
                                 engine=p["engine"], steps=p["steps"], error=p.get("error"))
                       for t, p in zip(group, plain)]
            for trial, result, written in zip(group, results, store_group(store, experiment_id, group, results)):
                if written:
                    outcome.trained += 1
                    on_result(trial, result)


def make_executor(kind: str, *, vectorize: bool = True, device: str = "cpu", group_size: int = DEFAULT_GROUP_SIZE,
                  ray_address: str | None = None, num_cpus: int | None = None, cpus_per_task: int = 1
                  ) -> LocalExecutor | RayExecutor:
    """``"local"`` or ``"ray"`` (UserError, saying how to install it, when Ray is missing)."""
    if kind not in EXECUTORS:
        raise UserError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise UserError(f"--group-size {group_size!r} must be a whole number ≥ 1")
    if kind == "local":
        return LocalExecutor(vectorize=vectorize, device=device, group_size=group_size)
    return RayExecutor(vectorize=vectorize, device=device, group_size=group_size, address=ray_address,
                       num_cpus=num_cpus, cpus_per_task=cpus_per_task)
