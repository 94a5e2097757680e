"""Executors: where the trials of an experiment train. The driver (this process) is the only writer of the store.

- :class:`LocalExecutor` — in this process. Trials that can share a pass (same task, batch size, epochs) are
  trained together by the vectorized trainer, ``group_size`` at a time, and each finished run is written with
  ``store.record_run`` (one transaction per run) as its group ends. A group of one, and every trial with
  ``vectorize=False``, is trained by the single-run loop and stored epoch by epoch (resume keeps its progress).
  A run whose code raises (a user's network, say) is stored as ``failed`` with its error and the others go on;
  a vectorized pass that raises is trained again one run at a time, to find which runs fail.
- :class:`RayExecutor` — the same groups become Ray tasks, each declaring its resources (``num_cpus``, and one GPU
  when the device is CUDA). A task trains its group and returns plain dicts; the driver writes each result as its
  task finishes (a ``ray.wait`` loop). The data is put in Ray's object store once and shared by the tasks.
  ``address`` joins a running cluster (``ray.init(address=...)``), whose workers need descentlab installed;
  without it a local Ray instance is started with ``num_cpus``.

Both call ``on_result(trial, result)`` after a run is stored (in this process), and pass ``callbacks(trial)`` to
runs trained one by one in this process (live progress).

>>> executor = make_executor("local", vectorize=True)                                        # doctest: +SKIP
>>> executor.run(trials, store=store, experiment_id=eid, splits=splits, on_result=print)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch

from descentlab.errors import UserError
from descentlab.experiments.runner import Trial, summary_of, train_stored
from descentlab.experiments.scheduling import step_logging
from descentlab.store import Store
from descentlab.train import Callback, RunConfig, RunResult, train

EXECUTORS = ("local", "ray")
DEFAULT_GROUP_SIZE = 16
OnResult = Callable[[Trial, RunResult], None]
Callbacks = Callable[[Trial], Sequence[Callback]]
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
    Runs with a schedule log their updates (:func:`~descentlab.experiments.scheduling.step_logging`)."""
    vec = vectorized_trainer() if vectorize and len(configs) > 1 else None
    logging = step_logging(configs)
    if vec is not None:
        try:
            return vec.train_vectorized(configs, splits=splits, device=device, **logging)
        except UserError:  # e.g. a model with buffers: train these one by one instead
            pass
    return [train(c, splits=splits, device=device, **logging) for c in configs]


def store_result(store: Store, experiment_id: int, trial: Trial, result: RunResult) -> int:
    """Write a whole finished run in one transaction."""
    c = trial.config
    return store.record_run(experiment_id, trial.key, task=c.task, optimizer=c.display_name, seed=c.seed,
                            config=c.to_dict(), epochs=result.epochs, status=result.status,
                            summary=summary_of(result), diverged_step=result.diverged_step,
                            steps=result.steps or ())


def _check_device(device: str) -> None:
    try:
        torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None


class LocalExecutor:
    """Train in this process; see the module docstring."""

    def __init__(self, *, vectorize: bool = True, device: str = "cpu", group_size: int = DEFAULT_GROUP_SIZE) -> None:
        _check_device(device)
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine")
        self.vectorize, self.device, self.group_size = vectorize, device, group_size

    def run(self, trials: Sequence[Trial], *, store: Store, experiment_id: int, splits: Any,
            on_result: OnResult = lambda t, r: None, callbacks: Callbacks = lambda t: ()) -> list[RunResult]:
        results = []
        for group in plan_groups(trials, vectorize=self.vectorize, group_size=self.group_size):
            trained = None
            if len(group) > 1:
                try:
                    trained = train_group([t.config for t in group], splits, device=self.device)
                except UserError:
                    raise
                except Exception:  # noqa: BLE001 - e.g. a user's model raised: find which runs fail, one by one
                    trained = None
            if trained is None:  # one by one: a run whose code raises is stored failed, the others go on
                for trial in group:
                    result = train_stored(trial, store=store, experiment_id=experiment_id, splits=splits,
                                          device=self.device, callbacks=callbacks(trial),
                                          **step_logging([trial.config]))
                    on_result(trial, result)
                    results.append(result)
                continue
            for trial, result in zip(group, trained):
                store_result(store, experiment_id, trial, result)
                on_result(trial, result)
                results.append(result)
        return results


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


def _ray_task(configs: list[RunConfig], splits: Any, device: str, vectorize: bool, threads: int) -> list[dict]:
    """Body of one Ray task: train a group, return plain results (no model) in the group's order."""
    torch.set_num_threads(max(1, threads))
    return [{"status": r.status, "epochs": r.epochs, "diverged_step": r.diverged_step,
             "time_to_target": r.time_to_target, "engine": r.engine, "steps": r.steps}
            for r in train_group(configs, splits, device=device, vectorize=vectorize)]


class RayExecutor:
    """Each group is a Ray task; the driver writes the results. See the module docstring."""

    def __init__(self, *, vectorize: bool = True, device: str = "cpu", group_size: int = DEFAULT_GROUP_SIZE,
                 address: str | None = None, num_cpus: int | None = None, cpus_per_task: int = 1) -> None:
        self.ray = _ray()
        _check_device(device)
        if cpus_per_task < 1:
            raise UserError(f"--cpus-per-task {cpus_per_task} must be ≥ 1")
        self.vectorize, self.device, self.group_size = vectorize, device, group_size
        self.address, self.num_cpus, self.cpus_per_task = address, num_cpus, cpus_per_task

    def _init(self) -> bool:
        """Connect (or start a local instance); True when this call did, so that :meth:`run` shuts it down."""
        ray = self.ray
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count() or 1, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
            raise UserError(f"cannot start or join {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        return True

    def run(self, trials: Sequence[Trial], *, store: Store, experiment_id: int, splits: Any,
            on_result: OnResult = lambda t, r: None, callbacks: Callbacks = lambda t: ()) -> list[RunResult]:
        groups = plan_groups(trials, vectorize=self.vectorize, group_size=self.group_size)
        if not groups:
            return []
        ray, started = self.ray, self._init()
        try:
            task = ray.remote(_ray_task)
            gpus = 1 if torch.device(self.device).type == "cuda" else 0
            data = ray.put(splits)
            waiting = {task.options(num_cpus=self.cpus_per_task, num_gpus=gpus)
                       .remote([t.config for t in g], data, self.device, self.vectorize, self.cpus_per_task): g
                       for g in groups}
            results = []
            while waiting:
                ready, _ = ray.wait(list(waiting), num_returns=1)
                group = waiting.pop(ready[0])
                try:
                    plain = ray.get(ready[0])
                except Exception as exc:
                    for ref in waiting:
                        ray.cancel(ref)
                    for trial in group:
                        store.record_run(experiment_id, trial.key, task=trial.config.task,
                                         optimizer=trial.config.display_name, seed=trial.config.seed,
                                         config=trial.config.to_dict(), epochs=[], status="failed",
                                         summary={"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
                    raise
                for trial, p in zip(group, plain):
                    result = RunResult(trial.config, p["status"], p["epochs"], p["diverged_step"], p["time_to_target"],
                                       engine=p["engine"], steps=p["steps"])
                    store_result(store, experiment_id, trial, result)
                    on_result(trial, result)
                    results.append(result)
            return results
        finally:
            if started:
                ray.shutdown()


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
