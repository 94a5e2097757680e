"""Experiment kinds are declared once: the store accepts a registered kind, the report reads its declaration."""

from __future__ import annotations

import pytest

from descentlab import kinds
from descentlab.errors import UserError
from descentlab.report.data import load
from descentlab.store import Store


@pytest.fixture
def bench_kind():
    kind = kinds.register(kinds.Kind("bench", "a kind a plug-in declares", sweeps_lr=True), source="test")
    yield kind
    kinds.KINDS.unregister("bench")


def test_the_built_in_kinds():
    assert kinds.KINDS.names() == ["compare", "sweep", "lr-find", "benchmark"]
    assert kinds.KINDS.get("benchmark").layout == "benchmark"
    assert kinds.KINDS.get("lr-find").layout == "lr-range" and kinds.KINDS.get("sweep").sweeps_lr
    assert not kinds.KINDS.get("compare").sweeps_lr


def test_a_registered_kind_is_stored_and_read_back_by_its_declaration(bench_kind):
    with Store(":memory:") as store:
        with pytest.raises(UserError, match="experiment kind must be one of compare, sweep, lr-find, benchmark, bench; "
                                            "got 'other'"):
            store.create_experiment("other", {}, {})
        experiment_id = store.create_experiment("bench", {"task": "digits-mlp"}, {})
        data = load(store, experiment_id)
    assert data.experiment.kind == "bench" and data.is_sweep  # from the declaration, not from the runs
