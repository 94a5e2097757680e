"""The store under faults: read-only files, old schemas, huge ids, malformed JSON, group writes all or nothing."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from descentlab.errors import UserError
from descentlab.store import SCHEMA_VERSION, Store, TrialResult, schema
from descentlab.store import store as store_module

ENV = {"python": "3.11"}


def _result(i: int, status: str = "completed") -> TrialResult:
    return TrialResult(f"k{i}", "digits-mlp", "sgd", i, {"i": i}, epochs=[{"val_acc": 0.1 * i}], status=status,
                       summary={"i": i})


def test_a_read_only_store_is_read_without_migration_or_leftovers(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("compare", {"task": "digits-mlp"}, ENV)
        store.record_runs(exp, [_result(1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.sqlite"]
    monkeypatch.setattr(schema, "writable", lambda path: False)  # as for a read-only file (root may write it)
    with Store(path, read_only=True) as store:
        assert [r.trial_key for r in store.runs("last")] == ["k1"]
        with pytest.raises(UserError, match="cannot be written .read-only"):
            store.create_experiment("compare", {}, ENV)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.sqlite"]  # no -wal, no -shm


def _version_1_store(path: Path) -> Path:
    """A store as descentlab wrote it at schema version 1: one experiment, one run left running, no epochs."""
    import re

    v1 = re.sub(r",\s*owner .*\n\s*lease_until [^\n]*", "", schema.SCHEMA)  # no claims (version 3)
    v1 = v1[:v1.index("CREATE TABLE steps")]  # and no steps table (version 2)
    assert "owner" not in v1 and "lease_until" not in v1 and "finished_at    TEXT\n)" in v1
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(v1)
        conn.execute("INSERT INTO experiments VALUES (1, 'compare', NULL, 't', '{}', '{}')")
        conn.execute("INSERT INTO runs (id, experiment_id, trial_key, task, optimizer, seed, config_json, status,"
                     " started_at) VALUES (1, 1, 'k', 't', 'sgd', 0, '{}', 'running', 't')")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    return path


def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = _version_1_store(tmp_path / "old.sqlite")
    with Store(path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [r.trial_key for r in store.runs(1)] == ["k"]
        # A run left running before leases existed has no owner: stale, taken over.
        assert store.claim(1, [TrialResult("k", "t", "sgd", 0, {})]).status == "claimed"


def test_a_group_is_written_all_or_nothing_and_never_twice(tmp_path: Path, monkeypatch) -> None:
    with Store(tmp_path / "runs.sqlite") as store:
        exp = store.create_experiment("sweep", {}, ENV)
        calls = []

        def fail_on_second(point: str) -> None:
            calls.append(point)
            if len(calls) == 2:
                raise RuntimeError("disk gone")

        monkeypatch.setattr(store_module, "_fault", fail_on_second)
        with pytest.raises(RuntimeError):
            store.record_runs(exp, [_result(1), _result(2), _result(3)])
        assert store.runs(exp) == []  # the first member was written, then rolled back with the rest
        monkeypatch.setattr(store_module, "_fault", lambda point: None)
        assert store.record_runs(exp, [_result(1), _result(2)]) == [1, 2]
        assert store.record_runs(exp, [_result(2), _result(3)])[0] is None  # finished already: not written again
        assert [r.trial_key for r in store.runs(exp)] == ["k1", "k2", "k3"]


def test_find_or_create_is_one_experiment_per_spec(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.sqlite") as store:
        a, created = store.find_or_create_experiment("compare", {"x": 1}, ENV)
        assert created and store.find_or_create_experiment("compare", {"x": 1}, ENV) == (a, False)
        assert store.find_or_create_experiment("compare", {"x": 1}, ENV, fresh=True) == (a + 1, True)


def test_huge_ids_and_malformed_json_are_one_line_errors(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.sqlite") as store:
        exp = store.create_experiment("compare", {}, ENV)
        store.record_runs(exp, [_result(1)])
        for bad in ("9" * 40, 2**70, "١"):
            with pytest.raises(UserError, match="no experiment|must be an id") as info:
                store.runs(bad)
            assert "\n" not in str(info.value) and len(str(info.value)) < 200
        store._conn.execute("UPDATE runs SET summary_json = '{\"i\": '")
        with pytest.raises(UserError, match="malformed JSON"):
            store.runs(exp)


def test_a_store_under_a_file_or_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot create the folder"):
        Store(tmp_path / "file" / "runs.sqlite")
    with pytest.raises(UserError, match="is a folder"):
        Store(tmp_path)


def test_a_full_disk_is_said_so_and_loses_nothing(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" (here: a page limit) used to be reported as a damaged store to
    restore from a copy; the store is whole, and once there is room the same writes go on."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("sweep", {}, ENV)
        store.record_runs(exp, [_result(1)])
        (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # as a disk with no room left
        big = TrialResult("k2", "digits-mlp", "sgd", 2, {"i": 2}, epochs=[{"val_acc": 0.5, "pad": "x" * 1000}] * 20)
        with pytest.raises(UserError) as info:
            store.record_runs(exp, [big])
        message = str(info.value)
        assert "could not be written" in message and "full" in message and "run the same command again" in message
        assert "damaged" not in message and "restore" not in message
    with Store(path) as store:  # room again: nothing lost, nothing half-written, the write goes through
        assert [(r.trial_key, r.status) for r in store.runs(exp)] == [("k1", "completed")]
        assert store.record_runs(exp, [big]) == [2]
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    io_error = schema.database_error(path, sqlite3.OperationalError("disk I/O error"))
    assert "could not be written" in str(io_error) and "damaged" not in str(io_error)


def test_a_read_only_version_1_store_is_read_without_migration(tmp_path: Path, monkeypatch) -> None:
    """It has no per-update table (version 2 added it) and cannot be migrated: `runs`, `report` and `export` used
    to fail on "no such table: steps", reported as a damaged store."""
    path = _version_1_store(tmp_path / "old.sqlite")
    monkeypatch.setattr(schema, "writable", lambda path: False)
    with Store(path, read_only=True) as store:
        [run] = store.runs("last")
        assert (run.trial_key, store.epochs(run.id), store.steps(run.id)) == ("k", [], [])
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 1  # not migrated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.sqlite"]


def test_a_store_that_cannot_be_written_is_said_so_before_sqlite_tries(tmp_path: Path, monkeypatch) -> None:
    """On a read-only file system SQLite fails with "unable to open database file", which was reported as a
    damaged store; a training command is told the store cannot be written (or created) instead."""
    path = tmp_path / "runs.sqlite"
    Store(path).close()
    monkeypatch.setattr(schema, "writable", lambda path: False)
    with pytest.raises(UserError, match="cannot be written .read-only file or folder.*pass --store NEW_PATH"):
        Store(path)
    with pytest.raises(UserError, match="cannot be created .read-only folder"):
        Store(tmp_path / "new.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.sqlite"]


def test_a_read_only_store_with_a_log_but_no_shm_file_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    """Copied without its -shm file onto read-only media, a store whose last writes are still in its -wal file
    cannot be read (SQLite needs the -shm index): one line saying to copy it somewhere writable, where it used to
    be "damaged, restore it from a copy"."""
    import shutil

    path, copy = tmp_path / "runs.sqlite", tmp_path / "copy"
    with Store(path) as store:
        store._conn.execute("PRAGMA wal_autocheckpoint = 0")  # the writes stay in the -wal file
        store.record_runs(store.create_experiment("compare", {}, ENV), [_result(1)])
        copy.mkdir()
        shutil.copy(path, copy / path.name)
        shutil.copy(f"{path}-wal", copy / f"{path.name}-wal")
    monkeypatch.setattr(schema, "writable", lambda path: False)
    with pytest.raises(UserError, match="write-ahead log .runs.sqlite-wal. without its -shm file.*somewhere writable"):
        Store(copy / path.name, read_only=True)
