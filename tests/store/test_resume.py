"""Resume semantics: finished trials are skipped, half-finished ones reset, record_run is all or nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest

from descentlab.errors import UserError
from descentlab.store import Store, TrialFinishedError, trial_key
from tests.store._workers import metrics

ENV = {"python": "3.11"}


def _cfg(i: int) -> dict:
    return {"task": "digits-mlp", "optimizer": "sgd", "lr": 0.1 * (i + 1), "seed": 0}


def _start(store: Store, exp: int, i: int) -> int:
    return store.start_run(exp, trial_key(_cfg(i)), task="digits-mlp", optimizer="sgd", seed=0, config=_cfg(i))


def test_completed_trial_keys(store: Store) -> None:
    exp = store.create_experiment("sweep", {"lr": [0.1, 0.2, 0.3, 0.4]}, ENV)
    for i, status in enumerate(["completed", "diverged", "failed"]):
        store.finish_run(_start(store, exp, i), status, {}, diverged_step=5 if status == "diverged" else None)
    _start(store, exp, 3)  # still running: a crash left it
    assert store.completed_trial_keys(exp) == {trial_key(_cfg(0)), trial_key(_cfg(1))}
    other = store.create_experiment("sweep", {"lr": [0.1]}, ENV)
    assert store.completed_trial_keys(other) == set()


def test_start_run_resets_a_half_finished_run(store: Store) -> None:
    exp = store.create_experiment("sweep", {}, ENV)
    run_id = _start(store, exp, 0)
    for e in range(1, 4):
        store.record_epoch(run_id, e, metrics(e))
    # The process died here. The next attempt gets the same row back, empty and running again.
    again = _start(store, exp, 0)
    assert again == run_id
    assert store.epochs(run_id) == []
    [run] = store.runs(exp)
    assert (run.status, run.summary, run.finished_at) == ("running", None, None)
    store.record_epoch(run_id, 1, {"val_loss": 0.5})  # epoch 1 may be written again
    store.finish_run(run_id, "failed", {"error": "oom"})
    # A failed trial is run again too; a finished one is not.
    assert _start(store, exp, 0) == run_id
    store.finish_run(run_id, "completed", {})
    with pytest.raises(TrialFinishedError, match=f"trial {trial_key(_cfg(0))} of experiment {exp} already completed"):
        _start(store, exp, 0)
    with pytest.raises(TrialFinishedError):
        store.record_run(
            exp, trial_key(_cfg(0)), task="t", optimizer="sgd", seed=0, config={}, epochs=[], status="completed",
            summary={},
        )  # fmt: skip
    assert store.runs(exp)[0].status == "completed"


def test_a_running_trial_nobody_holds_is_listed_as_interrupted(tmp_path) -> None:
    """A trial whose process was killed (SIGKILL: no cleanup) stays ``running`` in the store until a resume takes
    it over; listings used to show it as running for ever. The reader tells it by the claims' own rule."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("sweep", {}, ENV)
    child = ("import os, signal, sys, time\n"
             "from descentlab.store import Store\n"
             f"s = Store({str(path)!r})\n"
             f"s.start_run({exp}, {trial_key(_cfg(0))!r}, task='digits-mlp', optimizer='sgd', seed=0, config={{}})\n"
             "print('claimed', flush=True)\n"
             "sys.stdin.readline()\n"
             "os.kill(os.getpid(), signal.SIGKILL)\n")
    before = time.time()
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "claimed\n"
        with Store(path, read_only=True) as reader:
            [run] = reader.runs(exp)
            assert (run.status, run.interrupted, run.shown_status, run.last_seen) == ("running", False, "running", None)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(60) == -9
    finally:
        proc.kill()
    with Store(path, read_only=True) as reader:
        [run] = reader.runs(exp)
    assert (run.status, run.interrupted, run.shown_status) == ("running", True, "interrupted")
    seen = datetime.fromisoformat(run.last_seen).timestamp()
    assert before - 1 <= seen <= time.time()
    with Store(path) as store:  # resume is unchanged: the trial is taken over and trains again
        _start(store, exp, 0)
        [run] = store.runs(exp)
        assert (run.status, run.interrupted) == ("running", False)


def test_interrupted_follows_the_claim_rule(store: Store, monkeypatch) -> None:
    exp = store.create_experiment("sweep", {}, ENV)
    run_id = _start(store, exp, 0)
    assert not store.runs(exp)[0].interrupted  # our own claim
    other = "elsewhere:1:abc"  # another host: its process cannot be looked at, only its lease
    store._conn.execute("UPDATE runs SET owner = ?, lease_until = ? WHERE id = ?", (other, time.time() + 30, run_id))
    assert not store.runs(exp)[0].interrupted
    store._conn.execute("UPDATE runs SET lease_until = ? WHERE id = ?", (time.time() - 1, run_id))
    [run] = store.runs(exp)
    assert run.interrupted and run.last_seen is not None
    store._conn.execute("UPDATE runs SET lease_until = 0 WHERE id = ?", (run_id,))  # let go on close()
    assert store.runs(exp)[0].interrupted and store.runs(exp)[0].last_seen is None
    store._conn.execute("UPDATE runs SET status = 'completed' WHERE id = ?", (run_id,))  # finished: never interrupted
    assert not store.runs(exp)[0].interrupted


def test_start_run_needs_a_known_experiment(store: Store) -> None:
    with pytest.raises(UserError, match="no experiments in"):
        _start(store, 1, 0)
    store.create_experiment("compare", {}, ENV)
    with pytest.raises(UserError, match="no experiment 5 in .*; the only id is 1, or 'last'"):
        _start(store, 5, 0)


def test_record_run_is_all_or_nothing(store: Store) -> None:
    exp = store.create_experiment("sweep", {}, ENV)
    key = trial_key(_cfg(0))
    # A half-finished earlier attempt with two epochs.
    run_id = _start(store, exp, 0)
    store.record_epoch(run_id, 1, {"val_loss": 9.0})
    store.record_epoch(run_id, 2, {"val_loss": 8.0})
    before = (store.runs(exp), store.epochs(run_id))

    def fail(**kw) -> None:
        args = dict(task="digits-mlp", optimizer="sgd", seed=0, config=_cfg(0), epochs=[metrics(e) for e in range(50)])
        store.record_run(exp, key, **{**args, **kw})

    # Each fails inside the transaction, after the row was reset and 50 epochs inserted.
    with pytest.raises(TypeError, match="cannot store"):
        fail(status="completed", summary={"model": object()})
    with pytest.raises(UserError, match="got 'done'"):
        fail(status="done", summary={})
    with pytest.raises(UserError, match="diverged_step=3 given"):
        fail(status="completed", summary={}, diverged_step=3)
    assert (store.runs(exp), store.epochs(run_id)) == before

    # The same call with good arguments replaces the attempt in one go.
    args = dict(task="digits-mlp", optimizer="sgd", seed=0, config=_cfg(0))
    assert store.record_run(exp, key, **args, epochs=[{"val_loss": 1.0}] * 4, status="completed", summary={}) == run_id
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2, 3, 4]
    assert store.completed_trial_keys(exp) == {key}


def test_a_run_taken_over_after_its_lease_ran_out_is_not_written_by_its_old_owner(tmp_path) -> None:
    """A process suspended past its lease (Ctrl-Z, then fg) finds its trial taken over and reset by another: its
    next epoch used to go into the other's run (mixing the two, or an IntegrityError on the same epoch), and its
    end overwrote the other's result."""
    from descentlab.store import TrialClaimedError, TrialRow

    path = tmp_path / "runs.sqlite"
    row = TrialRow("k", "digits-mlp", "sgd", 0, {"lr": 0.1})
    common = dict(task="digits-mlp", optimizer="sgd", seed=0, config={"lr": 0.1})
    with Store(path) as old, Store(path) as new:
        exp = old.create_experiment("sweep", {}, {})
        assert old.claim(exp, [row]).status == "claimed"
        run = old.start_run(exp, "k", **common)
        old.record_epoch(run, 1, {"val_acc": 0.1})
        old._conn.execute("UPDATE runs SET lease_until = 0")  # old was suspended: its lease ran out
        assert new.claim(exp, [row]).status == "claimed"  # taken over, its epochs reset
        assert new.start_run(exp, "k", **common) == run
        new.record_epoch(run, 1, {"val_acc": 0.5})
        with pytest.raises(TrialClaimedError, match="taken over"):
            old.record_epoch(run, 2, {"val_acc": 0.2})
        with pytest.raises(TrialClaimedError, match="taken over"):
            old.finish_run(run, "completed", {"by": "old"})
        new.record_epoch(run, 2, {"val_acc": 0.6})
        new.finish_run(run, "completed", {"by": "new"})
        assert [e["val_acc"] for e in new.epochs(run)] == [0.5, 0.6]
        assert [(r.status, r.summary) for r in new.runs(exp)] == [("completed", {"by": "new"})]


def test_a_run_started_without_claim_keeps_its_lease(tmp_path, monkeypatch) -> None:
    """start_run alone (lr-find's way) did not renew the lease: after 60 s a second identical command took the
    trial over while this one still trained it."""
    import time

    from descentlab.store import TrialRow
    from descentlab.store import store as store_module

    monkeypatch.setattr(store_module, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(store_module, "LEASE_SECONDS", 0.5)
    path = tmp_path / "runs.sqlite"
    with Store(path) as mine, Store(path) as other:
        exp = mine.create_experiment("lr-find", {}, {})
        mine.start_run(exp, "k", task="digits-mlp", optimizer="sgd", seed=0, config={})
        time.sleep(1.0)  # twice the lease: renewed meanwhile
        assert other.claim(exp, [TrialRow("k", "digits-mlp", "sgd", 0, {})]).status == "busy"
