"""Round trips through the store: experiments, runs, epochs, NaN/inf, lookup by id or 'last', CSV export."""

from __future__ import annotations

import csv
import math
import sqlite3
from pathlib import Path

import pytest

from descentlab.errors import UserError
from descentlab.store import SCHEMA_VERSION, Experiment, Run, Store, default_store_path, trial_key
from tests.store._workers import metrics

SPEC = {"task": "mnist1d-mlp", "optimizers": ["sgd", "adam"], "epochs": 3, "lr": {"min": 1e-4, "max": 1.0}}
ENV = {"python": "3.11.7", "torch": "2.13.0+cpu", "cpus": 2, "git": None}


def _config(optimizer: str = "adam", seed: int = 0, lr: float = 1e-3) -> dict:
    return {"task": "mnist1d-mlp", "optimizer": {"name": optimizer, "lr": lr}, "seed": seed, "batch_size": 32}


def _record(store: Store, experiment_id: int, n_epochs: int = 3, **kw) -> int:
    cfg = _config(**kw)
    return store.record_run(
        experiment_id, trial_key(cfg), task=cfg["task"], optimizer=cfg["optimizer"]["name"], seed=cfg["seed"],
        config=cfg, epochs=[metrics(e) for e in range(n_epochs)], status="completed", summary={"best": 0.5},
    )  # fmt: skip


def _same(a: dict, b: dict) -> bool:
    """Dict equality in which NaN equals NaN."""
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def test_round_trip(store: Store) -> None:
    exp = store.create_experiment("compare", SPEC, ENV, name="first")
    cfg = _config()
    run_id = store.start_run(exp, trial_key(cfg), task="mnist1d-mlp", optimizer="adam", seed=0, config=cfg)
    for e in range(3):
        store.record_epoch(run_id, e, metrics(e))
    store.finish_run(run_id, "diverged", {"best_val_acc": float("nan"), "note": "lr too big"}, diverged_step=17)

    [experiment] = store.experiments()
    assert isinstance(experiment, Experiment)
    assert (experiment.id, experiment.kind, experiment.name) == (exp, "compare", "first")
    assert experiment.spec == SPEC and experiment.env == ENV
    assert experiment.created_at.endswith("+00:00")
    [run] = store.runs(exp)
    assert isinstance(run, Run)
    assert (run.id, run.experiment_id, run.trial_key, run.task, run.optimizer, run.seed) == (
        run_id, exp, trial_key(cfg), "mnist1d-mlp", "adam", 0,
    )  # fmt: skip
    assert run.config == cfg and trial_key(run.config) == run.trial_key
    assert (run.status, run.diverged_step) == ("diverged", 17)
    assert math.isnan(run.summary["best_val_acc"]) and run.summary["note"] == "lr too big"
    assert run.finished_at is not None and run.started_at <= run.finished_at
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    for e in epochs:
        assert _same({k: v for k, v in e.items() if k != "epoch"}, metrics(e["epoch"]))


def test_non_finite_metrics_round_trip_and_json_stays_standard(store: Store) -> None:
    exp = store.create_experiment("sweep", SPEC, ENV)
    run_id = _record(store, exp, n_epochs=0)
    store._conn.execute("DELETE FROM epochs")  # start from an empty epoch list, then add the odd values
    odd = {
        "nan": float("nan"),
        "inf": float("inf"),
        "-inf": float("-inf"),
        "tiny": 5e-324,
        "big": 1.7976931348623157e308,
    }
    store.record_epoch(run_id, 1, odd)
    [back] = store.epochs(run_id)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf
    assert back["tiny"] == 5e-324 and back["big"] == 1.7976931348623157e308
    # The stored text is standard JSON that SQLite's own JSON functions read.
    (text,) = store._conn.execute("SELECT json_extract(metrics_json, '$.inf') FROM epochs").fetchone()
    assert text == "inf"


def test_record_run_numbers_epochs_from_first_epoch(store: Store) -> None:
    exp = store.create_experiment("compare", SPEC, ENV)
    cfg = _config()
    run_id = store.record_run(
        exp, trial_key(cfg), task="t", optimizer="adam", seed=0, config=cfg,
        epochs=[{"val_loss": 2.0}, {"val_loss": 1.0, "epoch": 1}], status="completed", summary={}, first_epoch=0,
    )  # fmt: skip
    assert store.epochs(run_id) == [{"epoch": 0, "val_loss": 2.0}, {"epoch": 1, "val_loss": 1.0}]
    with pytest.raises(UserError, match="metrics say epoch 5 but are recorded as epoch 1"):
        store.record_epoch(run_id, 1, {"epoch": 5})
    with pytest.raises(UserError, match="epoch must be an int >= 0, got -1"):
        store.record_epoch(run_id, -1, {})


def test_last_and_unknown_ids(store: Store) -> None:
    with pytest.raises(UserError, match=r"no experiments in .* yet"):
        store.experiment("last")
    ids = [store.create_experiment("compare", {"n": i}, ENV) for i in range(3)]
    assert store.experiment("last").id == ids[-1] == store.experiment("LAST").id
    assert store.experiment(ids[0]).spec == {"n": 0}
    assert store.experiment(str(ids[1])).spec == {"n": 1}
    with pytest.raises(UserError) as err:
        store.experiment(7)
    assert str(err.value) == f"no experiment 7 in {store.path}; ids are 1..3, or 'last'"
    with pytest.raises(UserError, match=r"experiment must be an id or 'last', got 'first'; ids are 1\.\.3"):
        store.experiment("first")
    with pytest.raises(UserError, match="no experiment 9"):
        store.runs(9)
    assert store.runs("last") == []


def test_find_experiment_by_spec(store: Store) -> None:
    a = store.create_experiment("compare", SPEC, ENV)
    reordered = dict(reversed(list(SPEC.items())))
    assert store.find_experiment_by_spec("compare", reordered) == a
    assert store.find_experiment_by_spec("sweep", SPEC) is None
    assert store.find_experiment_by_spec("compare", {**SPEC, "epochs": 4}) is None
    b = store.create_experiment("compare", SPEC, ENV)
    assert store.find_experiment_by_spec("compare", SPEC) == b  # the newest one
    with pytest.raises(UserError,
                       match="experiment kind must be one of compare, sweep, lr-find, benchmark; got 'bench'"):
        store.create_experiment("bench", SPEC, ENV)


def test_finish_run_checks_its_arguments(store: Store) -> None:
    exp = store.create_experiment("compare", SPEC, ENV)
    run_id = store.start_run(exp, "k", task="t", optimizer="sgd", seed=0, config={})
    with pytest.raises(UserError, match="completed, diverged or failed; got 'running'"):
        store.finish_run(run_id, "running", {})
    with pytest.raises(UserError, match="diverged_step=3 given for a run that completed"):
        store.finish_run(run_id, "completed", {}, diverged_step=3)
    with pytest.raises(UserError, match="no run 999"):
        store.finish_run(999, "completed", {})
    with pytest.raises(UserError, match="no run 999"):
        store.record_epoch(999, 1, {})
    assert store.runs(exp)[0].status == "running"


def test_csv_export(store: Store, tmp_path: Path) -> None:
    exp = store.create_experiment("compare", SPEC, ENV)
    _record(store, exp, n_epochs=2, optimizer="sgd", seed=1, lr=0.1)
    _record(store, exp, n_epochs=3, optimizer="adam", seed=2)
    empty = store.start_run(exp, "no-epochs", task="t", optimizer="rmsprop", seed=3, config={"tags": [1, 2]})
    store.finish_run(empty, "failed", {"error": "boom"})
    other = store.create_experiment("sweep", SPEC, ENV)
    _record(store, other, n_epochs=1)

    store.to_csv(tmp_path / "out.csv", experiment_id=exp)
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 + 3 + 1
    header = list(rows[0])
    assert header[:11] == [
        "experiment_id", "experiment_kind", "experiment_name", "run_id", "trial_key", "task", "optimizer", "seed",
        "status", "diverged_step", "epoch",
    ]  # fmt: skip
    assert {"config.optimizer.lr", "config.optimizer.name", "config.batch_size", "config.tags"} <= set(header)
    assert {"train_loss", "val_loss", "test_loss", "state_bytes"} <= set(header)
    first = rows[0]
    assert (first["optimizer"], first["seed"], first["epoch"], first["config.optimizer.lr"]) == ("sgd", "1", "1", "0.1")
    assert math.isnan(float(first["val_loss"])) and float(first["test_loss"]) == math.inf  # epoch 0 of metrics()
    assert [r["epoch"] for r in rows] == ["1", "2", "1", "2", "3", ""]
    failed = rows[-1]
    assert (failed["status"], failed["config.tags"], failed["val_loss"]) == ("failed", "[1,2]", "")

    everything = store.to_records()
    assert len(everything) == 7 and {r["experiment_id"] for r in everything} == {exp, other}
    assert all(r.keys() == everything[0].keys() for r in everything)
    store.to_csv(tmp_path / "all.csv")
    with open(tmp_path / "all.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 7
    assert not list(tmp_path.glob("*.part"))


def test_reopen_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "runs.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("lr-find", SPEC, ENV)
    with Store(path) as store:
        assert store.experiment("last").id == exp
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UserError, match=f"schema version {SCHEMA_VERSION + 1}, but this descentlab reads versions up"):
        Store(path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database at all, just some text that is long enough" * 20)
    with pytest.raises(UserError, match="is not a descentlab results store"):
        Store(tmp_path / "notes.txt")
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(UserError, match="an SQLite file but not a descentlab results store"):
        Store(tmp_path / "other.sqlite")


def test_in_memory_store() -> None:
    with Store(":memory:") as store:
        exp = store.create_experiment("compare", SPEC, ENV)
        _record(store, exp)
        assert len(store.to_records()) == 3


def test_default_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "x.sqlite"))
    assert default_store_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("DESCENTLAB_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "descentlab" / "runs.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "share" / "descentlab" / "runs.sqlite"
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "y.sqlite"))
    with Store() as store:
        assert store.path == tmp_path / "y.sqlite"
    assert (tmp_path / "y.sqlite").exists()
