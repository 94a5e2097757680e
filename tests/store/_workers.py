"""Code that the store tests run in child processes (spawned, so it lives in an importable module)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection

from descentlab.store import Store, trial_key


def metrics(epoch: int) -> dict[str, float]:
    """A plausible epoch of metrics, with a NaN and an inf in it."""
    return {
        "train_loss": 1.0 / (epoch + 1),
        "train_acc": 0.5,
        "val_loss": float("nan") if epoch % 7 == 0 else 0.3,
        "val_acc": 0.6,
        "test_loss": float("inf") if epoch % 11 == 0 else 0.4,
        "test_acc": 0.7,
        "seconds": 0.01,
        "steps_per_s": 1234.5,
        "state_bytes": 4096,
    }


def config(writer: int, i: int) -> dict:
    return {"task": "digits-mlp", "optimizer": {"name": "adam", "lr": 1e-3 * (i + 1)}, "seed": writer}


def write_runs(path: str, experiment_id: int, writer: int, n_runs: int, n_epochs: int) -> None:
    """Write ``n_runs`` runs, alternating whole-run transactions and piece-by-piece writes."""
    with Store(path) as store:
        for i in range(n_runs):
            cfg = config(writer, i)
            common = dict(task="digits-mlp", optimizer="adam", seed=writer, config=cfg)
            epochs = [metrics(e) for e in range(n_epochs)]
            if i % 2:
                store.record_run(experiment_id, trial_key(cfg), **common, epochs=epochs, status="completed", summary={})
            else:
                run_id = store.start_run(experiment_id, trial_key(cfg), **common)
                for e, m in enumerate(epochs, start=1):
                    store.record_epoch(run_id, e, m)
                store.finish_run(run_id, "completed", {"best_val_acc": 0.6})


def write_until_killed(path: str, experiment_id: int, writer: int, n_epochs: int, acks: Connection) -> None:
    """record_run in a loop, sending each committed run's id down ``acks``; runs until it is killed.

    A tiny page cache makes each transaction spill its pages to the WAL file before it commits, so a kill
    that lands inside one leaves uncommitted frames on disk; about a third of the loop's time is inside one.
    """
    epochs = [metrics(e) for e in range(n_epochs)]
    with Store(path) as store:
        store._conn.execute("PRAGMA cache_size = 4")
        for i in range(10**9):
            cfg = config(writer, i)
            run_id = store.record_run(
                experiment_id, trial_key(cfg), task="digits-mlp", optimizer="adam", seed=writer, config=cfg,
                epochs=epochs, status="completed", summary={"i": i},
            )  # fmt: skip
            acks.send(run_id)


class _Stall(Mapping):
    """A summary that, when the store reads it (inside record_run's transaction), says so and hangs."""

    def __init__(self, signal: Connection) -> None:
        self.signal = signal

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[str]:
        self.signal.send("in transaction")
        time.sleep(60)
        return iter(())


def stall_mid_transaction(path: str, experiment_id: int, n_epochs: int, signal: Connection) -> None:
    """Start a big record_run whose pages spill to the write-ahead log, and hang before it commits."""
    with Store(path) as store:
        store._conn.execute("PRAGMA cache_size = 4")  # a tiny page cache: uncommitted pages reach the WAL file
        cfg = config(99, 0)
        store.record_run(
            experiment_id, trial_key(cfg), task="digits-mlp", optimizer="adam", seed=99, config=cfg,
            epochs=[metrics(e) for e in range(n_epochs)], status="completed", summary=_Stall(signal),
        )  # fmt: skip
