"""Helpers shared by the executor and resume tests: a tiny sweep and a store read back without timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from descentlab.store import Store

TIMING = {"seconds", "eval_seconds", "elapsed", "steps_per_s", "peak_memory_bytes", "shared_by"}  # how it was timed


def stored(path: str | Path, experiment: int | str = "last") -> dict[str, dict[str, Any]]:
    """Per trial key: status, diverged step, epochs and summary, with wall-clock timings left out."""
    with Store(path) as store:
        out = {}
        for run in store.runs(experiment):
            epochs = [{k: v for k, v in e.items() if k not in TIMING} for e in store.epochs(run.id)]
            summary = {k: v for k, v in (run.summary or {}).items() if k != "seconds"}
            assert run.trial_key not in out
            out[run.trial_key] = {"status": run.status, "diverged_step": run.diverged_step, "epochs": epochs,
                                  "summary": summary, "optimizer": run.optimizer}
        return out
