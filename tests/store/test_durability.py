"""Several processes writing at once, and processes killed mid-write: the file stays whole and consistent.

These tests are the proof of the store's claim that every write is one transaction: SQLite's write-ahead log
ignores whatever a transaction wrote before its commit, so a killed writer leaves the previous consistent state.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import sqlite3
import time
from pathlib import Path

from descentlab.store import Store
from tests.store import _workers

SPAWN = mp.get_context("spawn")
ENV = {"python": "test"}


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _epoch_counts(store: Store, experiment_id: int) -> dict[int, int]:
    return {run.id: len(store.epochs(run.id)) for run in store.runs(experiment_id)}


def test_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    writers, n_runs, n_epochs = 4, 12, 15
    with Store(path) as store:
        exp = store.create_experiment("sweep", {"writers": writers}, ENV)
    procs = [
        SPAWN.Process(target=_workers.write_runs, args=(str(path), exp, w, n_runs, n_epochs)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * writers
    assert _integrity(path) == "ok"
    with Store(path) as store:
        runs = store.runs(exp)
        assert len(runs) == writers * n_runs
        assert {r.status for r in runs} == {"completed"}
        assert {(r.seed, r.trial_key) for r in runs} == {
            (w, _workers.trial_key(_workers.config(w, i))) for w in range(writers) for i in range(n_runs)
        }
        assert set(_epoch_counts(store, exp).values()) == {n_epochs}


def _make_experiment(path: str) -> None:
    with Store(path) as store:
        store.create_experiment("sweep", {"writers": 4}, ENV)


def test_concurrent_creation_of_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "runs.sqlite"
    procs = [SPAWN.Process(target=_make_experiment, args=(str(path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 4
    with Store(path) as store:
        assert [e.id for e in store.experiments()] == [1, 2, 3, 4]


def test_killed_writer_leaves_only_whole_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    n_epochs = 400
    with Store(path) as store:
        exp = store.create_experiment("sweep", {"kill": True}, ENV)
    rng = random.Random(0)
    acked: set[int] = set()
    for writer in range(4):  # kill four writers in turn, each at a random moment, into the same file
        receive, send = SPAWN.Pipe(duplex=False)
        child = SPAWN.Process(target=_workers.write_until_killed, args=(str(path), exp, writer, n_epochs, send))
        child.start()
        send.close()
        acked.add(receive.recv())  # at least one commit, so the kill lands in the steady write loop
        time.sleep(rng.uniform(0.0, 0.15))
        child.kill()  # SIGKILL: no cleanup, no rollback, no atexit
        child.join(10)
        assert child.exitcode == -9
        while True:  # the acknowledgements that were sent before the kill
            try:
                acked.add(receive.recv())
            except EOFError:
                break
        receive.close()
        assert _integrity(path) == "ok"
        with Store(path) as store:
            counts = _epoch_counts(store, exp)
            assert acked <= set(counts), "a committed run was lost"
            assert set(counts.values()) == {n_epochs}, "a half-written run is visible"
            assert {r.status for r in store.runs(exp)} == {"completed"}


def test_kill_inside_an_open_transaction(tmp_path: Path) -> None:
    """Deterministic: the child has written a run's rows (spilled to the WAL file) and hangs before COMMIT."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("sweep", {"stall": True}, ENV)
        before = store.to_records()
    wal = Path(str(path) + "-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    receive, send = SPAWN.Pipe(duplex=False)
    child = SPAWN.Process(target=_workers.stall_mid_transaction, args=(str(path), exp, 3000, send))
    child.start()
    send.close()
    assert receive.recv() == "in transaction"
    assert wal.stat().st_size > wal_before + 100_000  # uncommitted pages really were written to disk
    child.kill()
    child.join(10)
    assert _integrity(path) == "ok"
    with Store(path) as store:
        assert store.runs(exp) == []
        assert store.to_records() == before
        assert store._conn.execute("SELECT count(*) FROM epochs").fetchone()[0] == 0
