"""The CLI bounds OpenMP's spin-wait unless the user chose a wait policy or a spin count (cli/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import os, descentlab.cli; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize(("given", "want"), [
    ({}, "10000 None"),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "None PASSIVE"),
    ({"GOMP_SPINCOUNT": "5"}, "5 None"),
])
def test_spin_count(given: dict[str, str], want: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | given
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == want
