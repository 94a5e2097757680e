"""The tables of the results store, its version, and opening a file safely.

The schema version lives in ``PRAGMA user_version``. A file written by a newer descentlab (a higher version) is
refused with a message saying so rather than misread; older versions are migrated here (``MIGRATIONS``):
version 2 added the per-update ``steps`` table, version 3 each run's ``owner`` and ``lease_until`` (who is
training a running trial, until when).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from descentlab.errors import UserError

SCHEMA_VERSION = 3

# Times are ISO-8601 UTC text; *_json columns hold canonical JSON (store/keys.py).
SCHEMA = """
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,              -- an experiment kind: compare | sweep | lr-find
    name        TEXT,
    created_at  TEXT NOT NULL,
    spec_json   TEXT NOT NULL,              -- the full resolved spec
    env_json    TEXT NOT NULL               -- library versions, python, machine, cpu count, git hash
);
CREATE INDEX experiments_by_kind ON experiments (kind);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    experiment_id  INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    trial_key      TEXT NOT NULL,           -- trial_key(config)
    task           TEXT NOT NULL,
    optimizer      TEXT NOT NULL,
    seed           INTEGER NOT NULL,
    config_json    TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('running', 'completed', 'diverged', 'failed')),
    diverged_step  INTEGER,
    summary_json   TEXT,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    owner          TEXT,                    -- who holds a running trial: host:pid:token (store.py)
    lease_until    REAL                     -- unix time, renewed by the owner while alive
);
CREATE UNIQUE INDEX runs_by_trial ON runs (experiment_id, trial_key);

CREATE TABLE epochs (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch         INTEGER NOT NULL CHECK (epoch >= 0),
    metrics_json  TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
""" + """
CREATE TABLE steps (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step          INTEGER NOT NULL CHECK (step >= 0),  -- the 0-based update
    metrics_json  TEXT NOT NULL,                       -- lr, loss (the batch's, before the update)
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
"""
# Statements that bring a store of version v - 1 to version v.
MIGRATIONS = {
    2: SCHEMA[SCHEMA.index("CREATE TABLE steps"):],
    3: "ALTER TABLE runs ADD COLUMN owner TEXT; ALTER TABLE runs ADD COLUMN lease_until REAL",
}


def writable(path: Path) -> bool:
    """Whether this process may write the store file and its folder (SQLite needs both, for its journal)."""
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def read_only_error(path: Path | str) -> UserError:
    if not Path(path).exists():
        return UserError(f"results store {path} cannot be created (read-only folder); pass --store NEW_PATH")
    return UserError(f"results store {path} cannot be written (read-only file or folder); `descentlab runs` "
                     "and `report` can read it; to train, make it writable or pass --store NEW_PATH")


def database_error(path: Path | str, e: sqlite3.DatabaseError) -> UserError:
    text = str(e)
    if "readonly" in text or "read-only" in text:
        return read_only_error(path)
    if "locked" in text or "busy" in text:
        return UserError(f"results store {path} is locked by another process ({text}); try again when it is done")
    # A full disk (SQLITE_FULL) or a write refused by the OS (SQLITE_IOERR: a file-size limit, a failing disk) is
    # no damage: the failed transaction was rolled back, and what was committed before it is intact. Saying
    # "damaged, restore a copy" here would send the user to throw a good store away.
    if "full" in text or "disk I/O error" in text:
        return UserError(f"results store {path} could not be written ({text}: a full disk or a file-size limit?); "
                         "what it holds is kept: make room and run the same command again to resume")
    return UserError(f"results store {path} is not a descentlab results store, or is damaged ({text}); restore it "
                     "from a copy, or pass --store NEW_PATH")


def connect(path: Path | str, timeout: float, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) a store file, set its pragmas and bring its schema to ``SCHEMA_VERSION``.

    The connection is in autocommit mode (``isolation_level=None``): the store opens every transaction itself
    with ``BEGIN IMMEDIATE``, so that concurrent writers wait for each other (``timeout`` seconds) instead of
    failing on a read-to-write lock upgrade.

    ``read_only``: for commands that only read. A store this process may write is opened as usual (SQLite
    then removes its ``-wal``/``-shm`` files on close); one it may not write (read-only file or folder) is
    opened read-only without migration, as ``immutable`` when no ``-wal`` file exists, so that nothing is left
    behind. Every SQLite error becomes a one-line :class:`UserError` naming the file.
    """
    may_write = str(path) == ":memory:" or writable(Path(path))
    if not read_only and not may_write:
        # Said before SQLite tries: on a read-only file system it fails with "unable to open database file",
        # which would read as a damaged store.
        raise read_only_error(path)
    ro = read_only and not may_write
    try:
        if ro:
            wal = Path(f"{path}-wal").exists()
            if wal and not Path(f"{path}-shm").exists():
                # SQLite reads a write-ahead log only through its -shm index, which it cannot create here; the
                # file alone (immutable) would silently miss what the log holds.
                raise UserError(f"results store {path} cannot be read where it is: it has a write-ahead log "
                                f"({Path(path).name}-wal) without its -shm file, in a read-only place; copy the "
                                "store with its -wal file somewhere writable and pass --store COPY")
            uri = f"{Path(path).absolute().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"
            conn = sqlite3.connect(uri, timeout=timeout, isolation_level=None, uri=True)
        else:
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except sqlite3.Error as e:
        raise UserError(f"cannot open results store {path}: {e}") from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _prepare(conn, path, timeout, ro)
                break
            except sqlite3.OperationalError as e:
                # Switching a new file to WAL while another process does the same can fail at once with "locked"
                # (SQLite does not wait there): try again, as a busy writer would be waited for.
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise database_error(path, e) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path | str, timeout: float, ro: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if ro:
        if _check_version(conn, path) < 2:
            # Not migrated (it cannot be written): an empty per-update table, in this connection's temporary
            # schema, lets the readers ask a store from before it existed for its runs' updates (none).
            conn.execute(MIGRATIONS[2].replace("CREATE TABLE", "CREATE TEMP TABLE"))
        return
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        # Safe with WAL: a crash of the process never loses a commit; a power cut may lose the last ones.
        conn.execute("PRAGMA synchronous = NORMAL")
    _migrate(conn, path)


def _check_version(conn: sqlite3.Connection, path: Path | str) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path} has store schema version {version}, but this descentlab reads versions up to "
            f"{SCHEMA_VERSION}; upgrade descentlab to open it"
        )
    if version == 0:
        (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if tables:
            raise UserError(f"{path} is an SQLite file but not a descentlab results store")
    return version


def _migrate(conn: sqlite3.Connection, path: Path | str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(conn, path)
        if version == 0:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        else:
            for to in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[to].split(";"):
                    if statement.strip():
                        conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
