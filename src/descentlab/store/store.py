"""The results store: experiments, their runs (one per trial) and each run's per-epoch metrics, in SQLite.

The driver is the only writer; the report and ``descentlab runs`` only read. Every write is one transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``), so a process killed in the middle of a write leaves the file as it was
before that write began: SQLite's write-ahead log ignores frames of a transaction that never committed.
``record_run`` writes a whole run, epochs included, in one transaction; ``start_run`` / ``record_epoch`` /
``finish_run`` write it piece by piece for live progress, and a run left ``running`` by a crash is reset by the
next ``start_run`` of the same trial.

A ``Store`` holds one connection: open one per process (and per thread). Several processes may write to one
file at once; they take turns, each waiting up to ``timeout`` seconds for the others.

Concurrent drivers. :meth:`Store.find_or_create_experiment` is one transaction, so two identical commands
started together share one experiment. A driver *claims* the trials it is about to train
(:meth:`Store.claim`): in one transaction their rows become ``running`` under its ``owner`` id
(``host:pid:token``) with a lease (``lease_until``) that a background thread renews every few seconds. A trial
whose lease is held by a live owner is not claimed again; a stale lease (the owner's process is gone on this
host, or the lease ran out) is taken over. The results of a claimed group are written in one transaction
(:meth:`Store.record_runs`), and a trial another process already finished is never written twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from descentlab.errors import UserError
from descentlab.kinds import KINDS
from descentlab.locations import user_dir
from descentlab.store.keys import canonical_json, from_json
from descentlab.store.schema import connect, database_error

LEASE_SECONDS = 60.0  # a claim not renewed for this long is stale (another host, or a hung process)
RENEW_SECONDS = 5.0   # how often a live driver renews its leases
MAX_ID = 2**63 - 1    # SQLite's largest INTEGER

Status = Literal["running", "completed", "diverged", "failed"]
FINISHED: tuple[Status, ...] = ("completed", "diverged")  # what resume skips; a failed trial is run again


class TrialFinishedError(UserError):
    """A trial that already completed or diverged was started again; resume should have skipped it."""


class TrialClaimedError(UserError):
    """A trial that another live process is training was started again."""


@dataclass(frozen=True)
class TrialRow:
    """What the store needs to claim a trial: its key and the columns of its row."""

    key: str
    task: str
    optimizer: str
    seed: int
    config: Mapping[str, Any]


@dataclass(frozen=True)
class TrialResult(TrialRow):
    """A finished trial for :meth:`Store.record_runs`."""

    epochs: Sequence[Mapping[str, Any]] = ()
    status: Status = "completed"
    summary: Mapping[str, Any] = field(default_factory=dict)
    diverged_step: int | None = None
    first_epoch: int = 1
    steps: Sequence[Mapping[str, Any]] = ()  # per-update records, each with its 0-based "step"


@dataclass(frozen=True)
class Claim:
    """The answer of :meth:`Store.claim`: ``done``, ``busy`` (``holder`` trains it) or ``claimed`` (``keys``)."""

    status: Literal["done", "busy", "claimed"]
    keys: tuple[str, ...]
    holder: str | None = None


def default_store_path() -> Path:
    """``$DESCENTLAB_STORE``, else ``runs.sqlite`` in the platform's data folder
    (:func:`descentlab.locations.user_dir`; on Linux ``$XDG_DATA_HOME/descentlab``, else ``~/.local/share/…``)."""
    if os.environ.get("DESCENTLAB_STORE"):
        return Path(os.environ["DESCENTLAB_STORE"]).expanduser()
    return user_dir("data") / "runs.sqlite"


def _alive(owner: str | None, lease_until: float | None, me: str) -> bool:
    """Whether the claim of ``owner`` still holds: it is ours, or its lease runs and (on this host) its process
    is alive. A row left ``running`` by descentlab before leases existed has no owner: stale."""
    if owner is None:
        return False
    if owner == me:
        return True
    if lease_until is None or lease_until < time.time():
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdecimal():
        pid = int(parts[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


_FAULTS: dict[str, int] = {}


def _fault(point: str) -> None:
    """Fault injection for the crash tests: with ``DESCENTLAB_FAULT=point:n`` in the environment, the process
    kills itself (SIGKILL: no cleanup, no rollback) the n-th time it reaches ``point``. Unset, this does nothing."""
    spec = os.environ.get("DESCENTLAB_FAULT")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name == point:
        _FAULTS[point] = _FAULTS.get(point, 0) + 1
        if str(_FAULTS[point]) == count:
            os.kill(os.getpid(), signal.SIGKILL)


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
    # A ``running`` row whose claim no longer holds (:func:`_alive`, the rule :meth:`Store.claim` takes stale
    # trials over by): the process training it was killed, or stopped renewing its lease. Resume trains it again.
    interrupted: bool = False
    last_seen: str | None = None  # ISO-8601 UTC: when that process last renewed its claim (None: not known)

    @property
    def shown_status(self) -> str:
        """The status as listings show it: ``interrupted`` for a ``running`` row nobody is training any more."""
        return "interrupted" if self.interrupted else self.status


_RUN_COLUMNS = (
    "id, experiment_id, trial_key, task, optimizer, seed, config_json, status, diverged_step, summary_json,"
    " started_at, finished_at"
)


def _run(row: tuple, me: str) -> Run:
    """A run from its row, read by the store whose owner id is ``me`` (its own claims are alive)."""
    (id_, exp, key, task, opt, seed, config, status, step, summary, started, finished, owner, lease_until) = row
    interrupted = status == "running" and not _alive(owner, lease_until, me)
    last_seen = None
    if interrupted and lease_until is not None and lease_until > LEASE_SECONDS:  # close() lets go with lease 0
        last_seen = datetime.fromtimestamp(lease_until - LEASE_SECONDS, UTC).isoformat(timespec="seconds")
    return Run(id_, exp, key, task, opt, seed, from_json(config), status, step, from_json(summary), started, finished,
               interrupted, last_seen)


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

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0, read_only: bool = False) -> None:
        """``read_only``: for commands that only read (see :func:`~descentlab.store.schema.connect`)."""
        self.path = default_store_path() if path is None else Path(path)
        if str(self.path) != ":memory:" and not read_only:
            folder = self.path.parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create the folder {folder} of results store {self.path}: "
                                f"{e.strerror or e}; pass --store PATH or set DESCENTLAB_STORE") from None
            if self.path.is_dir():
                raise UserError(f"results store {self.path} is a folder; pass --store FILE")
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._timeout = timeout
        self._conn = connect(self.path, timeout, read_only=read_only)
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()

    # -- plumbing -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the store; trials this process still holds are let go (their leases end now)."""
        if self._renewer is not None:
            self._stop.set()
            self._renewer.join()
            self._renewer = None
            try:
                with self._write() as conn:
                    conn.execute("UPDATE runs SET lease_until = 0 WHERE owner = ? AND status = 'running'",
                                 (self.owner,))
            except sqlite3.Error:
                pass  # best effort: the lease runs out by itself
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _renew_leases(self) -> None:
        """Background thread: keep this process's claims alive while it runs (its own connection)."""
        conn = sqlite3.connect(str(self.path), timeout=self._timeout, isolation_level=None)
        try:
            while not self._stop.wait(RENEW_SECONDS):
                # Busy or gone: try again at the next beat; the lease is 12 beats long.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("UPDATE runs SET lease_until = ? WHERE owner = ? AND status = 'running'",
                                 (time.time() + LEASE_SECONDS, self.owner))
        finally:
            conn.close()

    def _start_renewing(self) -> None:
        if self._renewer is None and str(self.path) != ":memory:":
            self._renewer = threading.Thread(target=self._renew_leases, name="descentlab-lease", daemon=True)
            self._renewer.start()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or (on any exception, or if killed) none of it."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:  # read-only, damaged, locked too long: one line naming the file
            raise database_error(self.path, e) from None

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
            return self._insert_experiment(conn, kind, spec, env, name)

    @staticmethod
    def _insert_experiment(conn: sqlite3.Connection, kind: str, spec: Mapping[str, Any], env: Mapping[str, Any],
                           name: str | None) -> int:
        cursor = conn.execute(
            "INSERT INTO experiments (kind, name, created_at, spec_json, env_json) VALUES (?, ?, ?, ?, ?)",
            (kind, name, _now(), canonical_json(spec), canonical_json(env)),
        )
        return int(cursor.lastrowid)

    def find_experiment_by_spec(self, kind: str, spec: Mapping[str, Any]) -> int | None:
        """The newest experiment of ``kind`` with the same spec (same canonical JSON), to resume; else None."""
        row = self._one("SELECT max(id) FROM experiments WHERE kind = ? AND spec_json = ?", kind, canonical_json(spec))
        return row[0]

    def find_or_create_experiment(self, kind: str, spec: Mapping[str, Any], env: Mapping[str, Any], *,
                                  fresh: bool = False, newer_than: int | None = None) -> tuple[int, bool]:
        """``(id, created)``: the newest experiment of ``kind`` with this spec, else a new one (always, with
        ``fresh``). One transaction: two processes asking at once for the same spec get the same experiment.
        ``newer_than`` (with ``fresh``): an experiment of this spec newer than that id is taken rather than a new
        one made, so that two processes replacing the same experiment at once make one replacement, not two."""
        if kind not in KINDS:
            raise UserError(f"experiment kind must be one of {', '.join(KINDS.names())}; got {kind!r}")
        with self._write() as conn:
            if not fresh or newer_than is not None:
                (found,) = conn.execute("SELECT max(id) FROM experiments WHERE kind = ? AND spec_json = ?",
                                        (kind, canonical_json(spec))).fetchone()
                if found is not None and (not fresh or int(found) > newer_than):
                    return int(found), False
            return self._insert_experiment(conn, kind, spec, env, None), True

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
        elif isinstance(id_or_last, str) and re.fullmatch(r"[0-9]+", id_or_last.strip()):
            id_ = int(id_or_last.strip())
        else:
            raise UserError(f"experiment must be an id or 'last', got {str(id_or_last)[:40]!r}; {allowed}")
        if not 0 <= id_ <= MAX_ID or self._one("SELECT 1 FROM experiments WHERE id = ?", id_) is None:
            shown = str(id_) if len(str(id_)) <= 24 else f"{str(id_)[:20]}… ({len(str(id_))} digits)"
            raise UserError(f"no experiment {shown} in {self.path}; {allowed}")
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
        """Inside a write transaction: a fresh ``running`` row for the trial, held by this store's owner (a stale
        unfinished one is reset; one held by a live other owner raises :class:`TrialClaimedError`)."""
        experiment_id = self._experiment_id(experiment_id)
        row = conn.execute(
            "SELECT id, status, owner, lease_until FROM runs WHERE experiment_id = ? AND trial_key = ?",
            (experiment_id, key),
        ).fetchone()
        values = (task, optimizer, int(seed), canonical_json(config), _now(), self.owner, time.time() + LEASE_SECONDS)
        if row is None:
            cursor = conn.execute(
                "INSERT INTO runs (task, optimizer, seed, config_json, started_at, owner, lease_until, experiment_id,"
                " trial_key, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
                (*values, experiment_id, key),
            )
            return int(cursor.lastrowid)
        run_id, status, owner, lease_until = row
        if status in FINISHED:
            raise TrialFinishedError(
                f"trial {key} of experiment {experiment_id} already {status} (run {run_id}); "
                "finished trials are skipped on resume, not run again"
            )
        if status == "running" and owner != self.owner and _alive(owner, lease_until, self.owner):
            raise TrialClaimedError(f"trial {key} of experiment {experiment_id} is being trained by {owner}")
        conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
        conn.execute(
            "UPDATE runs SET task = ?, optimizer = ?, seed = ?, config_json = ?, started_at = ?, owner = ?,"
            " lease_until = ?, status = 'running', diverged_step = NULL, summary_json = NULL, finished_at = NULL"
            " WHERE id = ?",
            (*values, run_id),
        )
        return int(run_id)

    def claim(self, experiment_id: int, trials: Sequence[TrialRow]) -> Claim:
        """Claim a group of trials at once, in one transaction: all of its unfinished trials, or none.

        ``"done"`` when every trial is finished; ``"busy"`` (nothing claimed) when a live other process holds
        one of them; else ``"claimed"``: the unfinished ones are ``running`` under this store's owner (epochs of
        an earlier attempt deleted), and the lease is renewed in the background until :meth:`close`.
        """
        with self._write() as conn:
            experiment_id = self._experiment_id(experiment_id)
            rows = {}
            for t in trials:
                row = conn.execute("SELECT status, owner, lease_until FROM runs WHERE experiment_id = ? AND"
                                   " trial_key = ?", (experiment_id, t.key)).fetchone()
                if row is not None:
                    rows[t.key] = row
            todo = [t for t in trials if rows.get(t.key, ("",))[0] not in FINISHED]
            if not todo:
                return Claim("done", ())
            for t in todo:
                status, owner, lease_until = rows.get(t.key, (None, None, None))
                if status == "running" and owner != self.owner and _alive(owner, lease_until, self.owner):
                    return Claim("busy", (), owner)
            for t in todo:
                self._claim_run(conn, experiment_id, t.key, t.task, t.optimizer, t.seed, t.config)
        self._start_renewing()
        return Claim("claimed", tuple(t.key for t in todo))

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
        :class:`TrialFinishedError` if the trial already completed or diverged; the trial is this process's
        (claimed) until it finishes, its lease renewed in the background as :meth:`claim`'s.
        """
        with self._write() as conn:
            run_id = self._claim_run(conn, experiment_id, trial_key, task, optimizer, seed, config)
        # (lr-find starts its runs without claim(): unrenewed, a run longer than the lease was taken over by a
        # second identical command while this one still trained it)
        self._start_renewing()
        return run_id

    def record_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record one epoch's metrics (NaN and ±inf allowed) of a run made by :meth:`start_run`."""
        text = _metrics_json(epoch, metrics)
        with self._write() as conn:
            self._check_held(conn, run_id)
            conn.execute("INSERT INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)", (run_id, epoch, text))

    def _check_held(self, conn: sqlite3.Connection, run_id: int) -> None:
        """Inside a write transaction: the run exists and no other process holds it. A process whose lease ran out
        (suspended with Ctrl-Z past it, say) may find its trial taken over and reset by another: then it must not
        write into that run (its epochs would mix with the other's, or collide with them): TrialClaimedError."""
        row = conn.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"no run {run_id} in {self.path}")
        if row[0] is not None and row[0] != self.owner:
            raise TrialClaimedError(f"run {run_id} was taken over by {row[0]}: this process's claim on it ran out")

    def finish_run(
        self, run_id: int, status: Status, summary: Mapping[str, Any], diverged_step: int | None = None,
        steps: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Close a run as ``completed``, ``diverged`` (at ``diverged_step``) or ``failed``, with its summary and
        its per-update records (``steps``, each with its 0-based ``"step"``), in one transaction.
        :class:`TrialClaimedError` if another process has taken the run over (as :meth:`record_epoch`)."""
        with self._write() as conn:
            self._check_held(conn, run_id)
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

    def record_runs(self, experiment_id: int, results: Sequence[TrialResult]) -> list[int | None]:
        """Record a group of finished runs in ONE transaction (all of them land, or none); the run ids, in order.

        A trial that is already finished (another process wrote it) is left as it is, its entry None: nothing is
        ever stored twice. Epoch ``i`` of ``result.epochs`` is stored as epoch ``result.first_epoch + i``.
        """
        texts = [[_metrics_json(r.first_epoch + i, m) for i, m in enumerate(r.epochs)] for r in results]
        ids: list[int | None] = []
        with self._write() as conn:
            experiment_id = self._experiment_id(experiment_id)
            for r, epoch_texts in zip(results, texts):
                try:
                    run_id = self._claim_run(conn, experiment_id, r.key, r.task, r.optimizer, r.seed, r.config)
                except (TrialFinishedError, TrialClaimedError):
                    ids.append(None)  # finished by another process, or now held by one: theirs to write
                    continue
                conn.executemany("INSERT INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?)",
                                 [(run_id, r.first_epoch + i, t) for i, t in enumerate(epoch_texts)])
                self._finish(conn, run_id, r.status, r.summary, r.diverged_step, r.steps)
                ids.append(run_id)
                _fault("record_runs")  # killed here: mid-write of a group, some members written, none committed
        return ids

    def completed_trial_keys(self, experiment_id: int) -> set[str]:
        """Keys of the trials that finished (completed or diverged): the ones resume skips."""
        rows = self._conn.execute(
            "SELECT trial_key FROM runs WHERE experiment_id = ? AND status IN (?, ?)", (experiment_id, *FINISHED)
        )
        return {key for (key,) in rows}

    def runs(self, experiment_id: int | str) -> list[Run]:
        """The runs of an experiment (an id or ``"last"``), in the order they were first started."""
        id_ = self._experiment_id(experiment_id)
        # A store from before claims (version < 3) opened read-only is not migrated: its rows have no owner.
        names = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        claims = "owner, lease_until" if "owner" in names else "NULL, NULL"
        rows = self._conn.execute(f"SELECT {_RUN_COLUMNS}, {claims} FROM runs WHERE experiment_id = ? ORDER BY id",
                                  (id_,))
        return [_run(row, self.owner) for row in rows]

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

    def to_dataframe(self, experiment_id: int | str | None = None) -> Any:
        """:meth:`to_records` as a ``pandas.DataFrame`` (needs pandas: ``pip install 'descentlab[export]'``)."""
        from descentlab.store.export import dataframe

        return dataframe(self.to_records(experiment_id))

    def to_parquet(self, path: str | Path, experiment_id: int | str | None = None) -> None:
        """Write :meth:`to_records` to a Parquet file (needs pandas and pyarrow; nested values as JSON text)."""
        from descentlab.store.export import write_parquet

        write_parquet(Path(path), self.to_records(experiment_id))
