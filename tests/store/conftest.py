from __future__ import annotations

from pathlib import Path

import pytest

from descentlab.store import Store


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.sqlite") as s:
        yield s
