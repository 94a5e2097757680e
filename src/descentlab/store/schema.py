"""The tables of the results store, its version, and opening a file safely.

The schema version lives in ``PRAGMA user_version``. A file written by a newer descentlab (a higher version) is
refused with a message saying so rather than misread; older versions are migrated here (version 2 added the
per-update ``steps`` table).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from descentlab.errors import UserError

SCHEMA_VERSION = 2

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
    finished_at    TEXT
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
MIGRATIONS = {2: SCHEMA[SCHEMA.index("CREATE TABLE steps"):]}


def connect(path: Path | str, timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) a store file, set its pragmas and bring its schema to ``SCHEMA_VERSION``.

    The connection is in autocommit mode (``isolation_level=None``): the store opens every transaction itself
    with ``BEGIN IMMEDIATE``, so that concurrent writers wait for each other (``timeout`` seconds) instead of
    failing on a read-to-write lock upgrade.
    """
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except sqlite3.OperationalError as e:
        raise UserError(f"cannot open results store {path}: {e}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            # Safe with WAL: a crash of the process never loses a commit; a power cut may lose the last ones.
            conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, path)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise UserError(f"{path} is not a descentlab results store ({e})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path | str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
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
