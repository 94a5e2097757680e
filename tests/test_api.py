"""descentlab.compare / sweep / lr_find: the commands' experiments from Python, stored and read back by the report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import descentlab
from descentlab.errors import UserError
from descentlab.store import Store
from descentlab.tasks import custom_task

pytestmark = pytest.mark.usefixtures("forget_user_tasks")


def data(n: int = 100):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    return x[:80], y[:80], x[80:], y[80:]


def net():
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))


def test_import_descentlab_stays_light() -> None:
    code = "import sys, descentlab; assert 'torch' not in sys.modules; print(sorted(descentlab.__all__))"
    env = {**os.environ, "PYTHONPATH": str(Path(descentlab.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "['Trajectory', 'compare', 'load_experiment', 'lr_find', 'minimize', 'sweep']"
    assert descentlab.compare.__module__ == "descentlab.api"  # on first use


def test_compare_a_model_and_data_stores_and_reads_back(tmp_path) -> None:
    store = tmp_path / "runs.sqlite"
    result = descentlab.compare((net, data()), optimizers=["sgd", "adam"], seeds=2, epochs=2, store=store)
    assert result.kind == "compare" and [r["optimizer"] for r in result.summary] == ["sgd", "adam"]
    assert result.summary[1]["seeds"] == "2"
    assert len(result.rows) == 2 * 2 * 2 and {r["epoch"] for r in result.rows} == {1, 2}
    with Store(store) as s:  # the rows are the store's, the same a CLI user exports
        assert result.rows == s.to_records(result.experiment_id)
        assert s.experiment(result.experiment_id).spec["task_source"] == "python"
    assert result.figure().axes[0].get_title() == "train loss"
    assert result.report(tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    again = descentlab.compare((net, data()), optimizers=["sgd", "adam"], seeds=2, epochs=2, store=store)
    assert again.experiment_id == result.experiment_id  # the same call resumes, as the command does


def test_sweep_of_a_task_object_and_lr_find(tmp_path) -> None:
    x, y, xt, yt = data()
    task = custom_task("api-task", model=net, x_train=x, y_train=y, x_test=xt, y_test=yt, epochs=2)
    result = descentlab.sweep(task, optimizers="sgd", lr=(0.01, 1.0), points=3, store=":memory:")
    assert result.kind == "sweep" and result.summary[0]["trials"] == "3"
    assert float(result.summary[0]["chosen lr"]) in (0.01, 0.1, 1.0)
    found = descentlab.lr_find(task, optimizer="adam", seeds=1, steps=12, store=":memory:")
    assert len(found.rows) <= 12 and found.summary["optimizer"] == "adam"
    s = found.suggestion
    assert repr(found).endswith(f"adam, suggested lr {s.lr:.3g}, range {s.lower:.3g} … {s.upper:.3g}>")
    assert found.report(tmp_path / "lr.md").read_text().startswith("# descentlab lr-find")


def test_model_with_a_data_file_and_bad_calls(tmp_path) -> None:
    x, y, xt, yt = data()
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    result = descentlab.compare(model=net, data=tmp_path / "d.npz", optimizers="adam", epochs=1, store=":memory:")
    assert result.data.tasks == ["my-task"]
    with pytest.raises(UserError, match="give a task, or a model and its data, not both"):
        descentlab.compare("digits-mlp", model=net, store=":memory:")
    with pytest.raises(UserError, match="data as a tuple is"):
        descentlab.compare((net, (x, y)), store=":memory:")
    with pytest.raises(UserError, match=r"model raised RuntimeError"):
        descentlab.compare((lambda: nn.Linear(5, 2), (x, y, xt, yt)), store=":memory:")
    with pytest.raises(UserError, match="lr must be a pair"):
        descentlab.sweep((net, (x, y, xt, yt)), lr=0.1, store=":memory:")
