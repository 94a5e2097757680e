"""Resume after SIGKILL: a real ``descentlab sweep`` process is killed mid-sweep, the same command finishes it.

Every trial must end up in the store exactly once, every finished run with all its epochs, and with final metrics
bitwise equal to an uninterrupted sweep of the same spec (the trainer is deterministic on CPU for a fixed thread
count: one thread here and in the subprocesses).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from descentlab.cli import main
from descentlab.experiments.runner import Trial
from descentlab.experiments.sweep import SweepSpec
from descentlab.store import Store

from .conftest import stored

ARGS = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--lr", "1e-3..1e-1", "--points", "4",
        "--seeds", "2", "--epochs", "2", "--no-vectorize", "--quiet"]
SPEC = SweepSpec(task="digits-mlp", optimizers=("sgd", "adam"), lr_min=1e-3, lr_max=1e-1, points=4, seeds=2,
                 epochs=2)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _finished(path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT count(*) FROM runs WHERE status IN ('completed', 'diverged')").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or its tables not yet
        return 0


def _sweep_process(store) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "descentlab", *ARGS, "--store", str(store)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_after_two_runs(proc: subprocess.Popen, store, report: dict) -> None:
    deadline = time.monotonic() + 120
    while _finished(store) < 2:
        if proc.poll() is not None:
            report["error"] = f"the sweep ended before it could be killed:\n{proc.stdout.read()}"
            return
        if time.monotonic() > deadline:
            report["error"] = "no run finished within 120 s"
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_sigkill_mid_sweep_then_the_same_command_finishes_it(tmp_path):
    store, reference = tmp_path / "killed.sqlite", tmp_path / "reference.sqlite"
    keys = {Trial.of(c).key for c in SPEC.configs()}
    assert len(keys) == 16

    proc, killed = _sweep_process(store), {}
    killer = threading.Thread(target=_kill_after_two_runs, args=(proc, store, killed))
    killer.start()  # meanwhile, the uninterrupted sweep in this process
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*ARGS, "--store", str(reference)]) == 0
    killer.join()
    assert "error" not in killed, killed.get("error")
    killed_at = _finished(store)
    assert 2 <= killed_at < 16, "the sweep was killed too late to test resume"

    resumed = _sweep_process(store)  # the same command
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert f"({killed_at} already in the store, resumed)" in out

    got, want = stored(store), stored(reference)
    assert set(got) == set(want) == keys  # every trial exactly once (stored() also asserts no duplicate key)
    for key, run in got.items():
        assert run["status"] == "completed"
        assert [e["epoch"] for e in run["epochs"]] == [1, 2]  # no half-written run
        assert run == want[key]  # bitwise-equal metrics, epoch by epoch
    with Store(store) as s:
        assert len(s.experiments()) == 1 and len(s.runs("last")) == 16



