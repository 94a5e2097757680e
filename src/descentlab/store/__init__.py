"""The SQLite results store: the one place results live (spec → trials → trainer → **store** → report).

- :class:`Store` — experiments, runs (one per trial) and per-epoch metrics; written by the driver only.
- :func:`trial_key` — a configuration's identity (SHA-256 of its canonical JSON), used for resume.
- :func:`default_store_path` — ``$DESCENTLAB_STORE``, else ``runs.sqlite`` in the platform's data folder
  (:mod:`descentlab.locations`; on Linux ``$XDG_DATA_HOME/descentlab`` or ``~/.local/share/descentlab``).

Standard library only (``sqlite3``; ``platformdirs`` only to find the default path): a report can be rebuilt from
the file on any machine.
"""

from descentlab.store.keys import canonical_json, trial_key
from descentlab.store.schema import SCHEMA_VERSION
from descentlab.store.store import (
    FINISHED,
    Claim,
    Experiment,
    Run,
    Status,
    Store,
    TrialClaimedError,
    TrialFinishedError,
    TrialResult,
    TrialRow,
    default_store_path,
)

__all__ = [
    "FINISHED",
    "Claim",
    "SCHEMA_VERSION",
    "Experiment",
    "Run",
    "Status",
    "Store",
    "TrialClaimedError",
    "TrialFinishedError",
    "TrialResult",
    "TrialRow",
    "canonical_json",
    "default_store_path",
    "trial_key",
]
