"""The results store: experiments, their runs (one per trial) and each run's per-epoch metrics, in SQLite.

The driver is the only writer; the report and ``descentlab runs`` only read. Every write is one transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``), so a process killed in the middle of a write leaves the file as it was
before that write began: SQLite's write-ahead log ignores frames of a transaction that never committed.
``record_run`` writes a whole run, epochs included, in one transaction; ``start_run`` / ``record_epoch`` /
``finish_run`` write it piece by piece for live progress, and a run left ``running`` by a crash is reset by the
next ``start_run`` of the same trial.

A ``Store`` holds one connection: open one per process (and per thread). Several processes may write to one
file at once; they take turns, each waiting up to ``timeout`` seconds for the others.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from descentlab.errors import UserError
from descentlab.kinds import KINDS
from descentlab.store.keys import canonical_json, from_json
from descentlab.store.schema import connect

Status = Literal["running", "completed", "diverged", "failed"]
FINISHED: tuple[Status, ...] = ("completed", "diverged")  # what resume skips; a failed trial is run again


class TrialFinishedError(UserError):
    """A trial that already completed or diverged was started again; resume should have skipped it."""


def default_store_path() -> Path:
    """``$DESCENTLAB_STORE``, else ``$XDG_DATA_HOME/descentlab/runs.sqlite``, else ``~/.local/share/…``."""
    if os.environ.get("DESCENTLAB_STORE"):
        return Path(os.environ["DESCENTLAB_STORE"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "descentlab" / "runs.sqlite"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Experiment:
    id: int
    kind: str
    name: str | None
    created_at: str  # ISO-8601, UTC
    spec: dict[str, Any]
    env: dict[str, Any]


@dataclass(frozen=True)
class Run:
    id: int
    experiment_id: int
    trial_key: str
    task: str
    optimizer: str
    seed: int
    config: dict[str, Any]
    status: Status
    diverged_step: int | None
    summary: dict[str, Any] | None  # None until the run finishes
    started_at: str
    finished_at: str | None


_RUN_COLUMNS = (
    "id, experiment_id, trial_key, task, optimizer, seed, config_json, status, diverged_step, summary_json,"
    " started_at, finished_at"
)


def _run(row: tuple) -> Run:
    (id_, exp, key, task, opt, seed, config, status, step, summary, started, finished) = row
    return Run(id_, exp, key, task, opt, seed, from_json(config), status, step, from_json(summary), started, finished)


def _metrics_json(epoch: int, metrics: Mapping[str, Any]) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise UserError(f"epoch must be an int >= 0, got {epoch!r}")
    if metrics.get("epoch", epoch) != epoch:
        raise UserError(f"metrics say epoch {metrics['epoch']!r} but are recorded as epoch {epoch}")
    return canonical_json({k: v for k, v in metrics.items() if k != "epoch"})


def _step_row(metrics: Mapping[str, Any]) -> tuple[int, str]:
    step = metrics.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserError(f"a step record needs an int 'step' >= 0, got {step!r}")
    return step, canonical_json({k: v for k, v in metrics.items() if k != "step"})


class Store:
    """An SQLite results store at ``path`` (default :func:`default_store_path`; ``":memory:"`` for tests)."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0) -> None:
        self.path = default_store_path() if path is None else Path(path)
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path, timeout)

    # -- plumbing -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or (on any exception, or if killed) none of it."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _one(self, sql: str, *params: Any) -> tuple | None:
        return self._conn.execute(sql, params).fetchone()

    # -- experiments ----------------------------------------------------------------------------------------
    def create_experiment(
        self, kind: str, spec: Mapping[str, Any], env: Mapping[str, Any], name: str | None = None
    ) -> int:
        """Record a new experiment and return its id."""
        if kind not in KINDS:
            raise UserError(f"experiment kind must be one of {', '.join(KINDS.names())}; got {kind!r}")
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO experiments (kind, name, created_at, spec_json, env_json) VALUES (?, ?, ?, ?, ?)",
                (kind, name, _now(), canonical_json(spec), canonical_json(env)),
            )
        return int(cursor.lastrowid)

    def find_experiment_by_spec(self, kind: str, spec: Mapping[str, Any]) -> int | None:
        """The newest experiment of ``kind`` with the same spec (same canonical JSON), to resume; else None."""
        row = self._one("SELECT max(id) FROM experiments WHERE kind = ? AND spec_json = ?", kind, canonical_json(spec))
        return row[0]

    def experiments(self) -> list[Experiment]:
        rows = self._conn.execute("SELECT id, kind, name, created_at, spec_json, env_json FROM experiments ORDER BY id")
        return [Experiment(i, k, n, c, from_json(s), from_json(e)) for i, k, n, c, s, e in rows]

    def experiment(self, id_or_last: int | str) -> Experiment:
        """The experiment with this id, or the newest one for ``"last"`` (any case); UserError if none."""
        id_ = self._experiment_id(id_or_last)
        row = self._one("SELECT id, kind, name, created_at, spec_json, env_json FROM experiments WHERE id = ?", id_)
        i, k, n, c, s, e = row
        return Experiment(i, k, n, c, from_json(s), from_json(e))

    def _experiment_id(self, id_or_last: int | str) -> int:
        low, high = self._one("SELECT min(id), max(id) FROM experiments")
        if high is None:
            raise UserError(f"no experiments in {self.path} yet; run `descentlab compare` to make one")
        allowed = f"ids are {low}..{high}, or 'last'" if low != high else f"the only id is {low}, or 'last'"
        if isinstance(id_or_last, str) and id_or_last.strip().lower() == "last":
            return int(high)
        if isinstance(id_or_last, int) and not isinstance(id_or_last, bool):
            id_ = id_or_last
        elif isinstance(id_or_last, str) and id_or_last.strip().isdigit():
            id_ = int(id_or_last)
        else:
            raise UserError(f"experiment must be an id or 'last', got {id_or_last!r}; {allowed}")
        if self._one("SELECT 1 FROM experiments WHERE id = ?", id_) is None:
            raise UserError(f"no experiment {id_} in {self.path}; {allowed}")
        return id_

    # -- runs -----------------------------------------------------------------------------------------------
    def _claim_run(
        self,
        conn: sqlite3.Connection,
        experiment_id: int,
        key: str,
        task: str,
        optimizer: str,
        seed: int,
        config: Mapping[str, Any],
    ) -> int:
        """Inside a write transaction: a fresh ``running`` row for the trial (a stale unfinished one is reset)."""
        experiment_id = self._experiment_id(experiment_id)
        row = conn.execute(
            "SELECT id, status FROM runs WHERE experiment_id = ? AND trial_key = ?", (experiment_id, key)
        ).fetchone()
        values = (task, optimizer, int(seed), canonical_json(config), _now())
        if row is None:
            cursor = conn.execute(
                "INSERT INTO runs (task, optimizer, seed, config_json, started_at, experiment_id, trial_key, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                (*values, experiment_id, key),
            )
            return int(cursor.lastrowid)
        run_id, status = row
        if status in FINISHED:
            raise TrialFinishedError(
                f"trial {key} of experiment {experiment_id} already {status} (run {run_id}); "
                "finished trials are skipped on resume, not run again"
            )
        conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
        conn.execute(
            "UPDATE runs SET task = ?, optimizer = ?, seed = ?, config_json = ?, started_at = ?, status = 'running',"
            " diverged_step = NULL, summary_json = NULL, finished_at = NULL WHERE id = ?",
            (*values, run_id),
        )
        return int(run_id)

    def _finish(
        self,
        conn: sqlite3.Connection,
        run_id: int,
        status: str,
        summary: Mapping[str, Any],
        diverged_step: int | None,
        steps: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if status not in ("completed", "diverged", "failed"):
            raise UserError(f"a run finishes as completed, diverged or failed; got {status!r}")
        if diverged_step is not None and status != "diverged":
            raise UserError(f"diverged_step={diverged_step!r} given for a run that {status}")
        cursor = conn.execute(
            "UPDATE runs SET status = ?, summary_json = ?, diverged_step = ?, finished_at = ? WHERE id = ?",
            (status, canonical_json(summary), diverged_step, _now(), run_id),
        )
        if cursor.rowcount != 1:
            raise UserError(f"no run {run_id} in {self.path}")
        conn.executemany("INSERT INTO steps (run_id, step, metrics_json) VALUES (?, ?, ?)",
                         [(run_id, *_step_row(s)) for s in steps])

    def start_run(
        self, experiment_id: int, trial_key: str, *, task: str, optimizer: str, seed: int, config: Mapping[str, Any]
    ) -> int:
        """Mark a trial as running and return its run id; an unfinished earlier attempt is reset (epochs deleted).

        ``trial_key`` is normally :func:`~descentlab.store.keys.trial_key` of ``config``. Raises
        :class:`TrialFinishedError` if the trial already completed or diverged.
        """
        with self._write() as conn:
            return self._claim_run(conn, experiment_id, trial_key, task, optimizer, seed, config)

    def record_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch's metrics (NaN and ±inf allowed) of a run made by :meth:`start_run`."""
        text = _metrics_json(epoch, metrics)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise UserError(f"no run {run_id} in {self.path}")
            conn.execute("INSERT INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)", (run_id, epoch, text))

    def finish_run(
        self, run_id: int, status: Status, summary: Mapping[str, Any], diverged_step: int | None = None,
        steps: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Close a run as ``completed``, ``diverged`` (at ``diverged_step``) or ``failed``, with its summary and
        its per-update records (``steps``, each with its 0-based ``"step"``), in one transaction."""
        with self._write() as conn:
            self._finish(conn, run_id, status, summary, diverged_step, steps)

    def record_run(
        self,
        experiment_id: int,
        trial_key: str,
        *,
        task: str,
        optimizer: str,
        seed: int,
        config: Mapping[str, Any],
        epochs: Sequence[Mapping[str, Any]],
        status: Status,
        summary: Mapping[str, Any],
        diverged_step: int | None = None,
        first_epoch: int = 1,
        steps: Sequence[Mapping[str, Any]] = (),
    ) -> int:
        """Record a whole finished run in one transaction and return its id: all of it lands, or none of it.

        ``epochs[i]`` is stored as epoch ``first_epoch + i`` (pass ``first_epoch=0`` when the list starts with
        the evaluation before training). Same rules as :meth:`start_run` for a trial already in the store.
        """
        texts = [_metrics_json(first_epoch + i, metrics) for i, metrics in enumerate(epochs)]
        with self._write() as conn:
            run_id = self._claim_run(conn, experiment_id, trial_key, task, optimizer, seed, config)
            conn.executemany(
                "INSERT INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)",
                [(run_id, first_epoch + i, text) for i, text in enumerate(texts)],
            )
            self._finish(conn, run_id, status, summary, diverged_step, steps)
        return run_id

    def completed_trial_keys(self, experiment_id: int) -> set[str]:
        """Keys of the trials that finished (completed or diverged): the ones resume skips."""
        rows = self._conn.execute(
            "SELECT trial_key FROM runs WHERE experiment_id = ? AND status IN (?, ?)", (experiment_id, *FINISHED)
        )
        return {key for (key,) in rows}

    def runs(self, experiment_id: int | str) -> list[Run]:
        """The runs of an experiment (an id or ``"last"``), in the order they were first started."""
        id_ = self._experiment_id(experiment_id)
        rows = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE experiment_id = ? ORDER BY id", (id_,))
        return [_run(row) for row in rows]

    def epochs(self, run_id: int) -> list[dict[str, Any]]:
        """A run's per-epoch metrics in epoch order, each dict with its ``"epoch"`` first."""
        rows = self._conn.execute("SELECT epoch, metrics_json FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))
        return [{"epoch": epoch, **from_json(text)} for epoch, text in rows]

    def steps(self, run_id: int) -> list[dict[str, Any]]:
        """A run's per-update records in order, each dict with its 0-based ``"step"`` first (empty when the run
        recorded none)."""
        rows = self._conn.execute("SELECT step, metrics_json FROM steps WHERE run_id = ? ORDER BY step", (run_id,))
        return [{"step": step, **from_json(text)} for step, text in rows]

    # -- export ---------------------------------------------------------------------------------------------
    def to_records(self, experiment_id: int | str | None = None) -> list[dict[str, Any]]:
        """One flat dict per (run, epoch) — ``pandas.DataFrame(store.to_records())`` — see :mod:`.export`."""
        from descentlab.store.export import records

        ids = None if experiment_id is None else [self._experiment_id(experiment_id)]
        return records(self._conn, ids)

    def to_csv(self, path: str | Path, experiment_id: int | str | None = None) -> None:
        """Write :meth:`to_records` to a CSV file (nested values as JSON, NaN as ``nan``, None as empty)."""
        from descentlab.store.export import write_csv

        write_csv(Path(path), self.to_records(experiment_id))
