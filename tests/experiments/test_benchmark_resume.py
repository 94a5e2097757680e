"""A benchmark killed with SIGKILL (the store's ``DESCENTLAB_FAULT`` hook: mid-write of a vectorized group of the
evaluation phase, after the tuning phase; a kill while tuning is the sweep's, tests/cli/test_faults.py) and rerun
with the same command ends with exactly what an uninterrupted benchmark stores: every trial once, every number
bitwise equal, the same selections and scores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from descentlab.store import Store

from .conftest import stored

ARGS = ["benchmark", "--tasks", "digits-mlp", "--optimizers", "sgd,adam", "--budget", "1,2", "--seeds", "2",
        "--epochs", "2", "--group-size", "2", "--quiet"]
# tuning: sgd 2 + adam 2 trials (2 groups of 2); evaluation: 2 seeds per distinct selection, in groups of 2
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ENV.pop("DESCENTLAB_FAULT", None)


def _start(store, json_path=None, fault: str | None = None) -> subprocess.Popen:
    extra = ["--json", str(json_path)] if json_path else []
    env = {**ENV, "DESCENTLAB_FAULT": fault} if fault else ENV
    return subprocess.Popen([sys.executable, "-m", "descentlab", *ARGS, "--store", str(store), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _scores(path) -> dict:
    payload = json.loads(path.read_text())
    return {"scores": payload["scores"], "cells": [{k: v for k, v in c.items() if k != "seconds_to_target"}
                                                   for c in payload["cells"]]}


def test_sigkill_while_evaluating_then_the_same_command_gives_the_uninterrupted_result(tmp_path):
    """Killed writing the second evaluation group (``record_runs:8``): the 4 tuning runs and the first evaluation
    group are stored, the group being written is not."""
    store, clean = tmp_path / "killed.sqlite", tmp_path / "clean.sqlite"
    killed, uninterrupted = _start(store, fault="record_runs:8"), _start(clean, tmp_path / "clean.json")
    killed.communicate(timeout=300)
    _, err = uninterrupted.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL and uninterrupted.returncode == 0, err
    want_runs, want_scores = stored(clean), _scores(tmp_path / "clean.json")
    finished = len([r for r in stored(store).values() if r["status"] == "completed"])
    assert finished == 6

    resumed = _start(store, tmp_path / "resumed.json")  # the same command
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"({finished} runs already in the store, resumed)" in out
    assert stored(store) == want_runs  # every trial once, every epoch and number bitwise equal (timings left out)
    assert _scores(tmp_path / "resumed.json") == want_scores
    with Store(store) as s:
        assert len(s.experiments()) == 1
