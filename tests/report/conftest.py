from __future__ import annotations

from pathlib import Path

import pytest

from descentlab.report.data import load
from descentlab.store import Store
from tests.report.synthetic import build_store


@pytest.fixture(scope="session")
def store_path(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("report") / "runs.sqlite")


@pytest.fixture(scope="session")
def experiments(store_path):
    """(compare, sweep, batch-size compare) as ExperimentData."""
    with Store(store_path) as store:
        return tuple(load(store, i) for i in (1, 2, 3))
