"""descentlab.compare / sweep / lr_find / benchmark: the commands' experiments from Python, stored and read back by
the report."""

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
    assert out.stdout.strip() == ("['Trajectory', 'benchmark', 'compare', 'load_experiment', 'lr_find', 'minimize', "
                                  "'sweep']")
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
    stored = descentlab.lr_find(task, optimizer="adam", seeds=1, steps=12, store=tmp_path / "lr.sqlite")
    again = descentlab.load_experiment("last", store=tmp_path / "lr.sqlite")  # read back: its own report
    assert again.experiment_id == stored.experiment_id
    assert again.report(tmp_path / "again.md").read_text().startswith("# descentlab lr-find")
    assert isinstance(again, descentlab.api.LRFindResult)  # the result rebuilt from the stored curves
    assert again.summary == stored.summary and again.rows == stored.rows


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


def test_benchmark_from_python_is_the_command_s_benchmark(tmp_path) -> None:
    import contextlib
    import io
    import json

    from descentlab.cli import main

    result = descentlab.benchmark("digits-mlp", optimizers=["sgd", "adam(eps=1e-6)"], budget=(1, 2), seeds=2,
                                  epochs=1, store=tmp_path / "api.sqlite")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["benchmark", "--tasks", "digits-mlp", "--optimizers", "sgd,adam(eps=1e-6)", "--budget", "1,2",
                     "--seeds", "2", "--epochs", "1", "--quiet", "--store", str(tmp_path / "cli.sqlite"),
                     "--json", str(tmp_path / "cli.json")]) == 0
    cli = json.loads((tmp_path / "cli.json").read_text())
    ours = json.loads(json.dumps(result.to_json(), default=str).replace("Infinity", "null").replace("NaN", "null"))
    timeless = [{k: v for k, v in c.items() if k != "seconds_to_target"} for c in cli["cells"]]
    assert [{k: v for k, v in c.items() if k != "seconds_to_target"} for c in ours["cells"]] == timeless
    assert {int(b): s for b, s in cli["scores"].items()} == result.scores()
    assert [c["selected"] for c in result.cells] == [c["selected"] for c in cli["cells"]]
    assert [row["optimizer"] for row in result.summary] == ["sgd", "adam(eps=1e-06)"]
    with pytest.raises(UserError, match="budget 5 is not one of this benchmark's: 1, 2"):
        result.scores(5)
    html = result.report(tmp_path / "bench.html").read_text()
    assert "Performance profiles" in html and "Per task at budget 2" in html
    assert result.figure().axes[0].get_title() == "budget 1"
    again = descentlab.load_experiment("last", store=tmp_path / "api.sqlite")
    assert isinstance(again, descentlab.api.BenchmarkResult) and again.scores() == result.scores()
    rerun = descentlab.benchmark(["digits-mlp"], optimizers="sgd,adam(eps=1e-6)", budget=[1, 2], seeds=2, epochs=1,
                                 store=tmp_path / "api.sqlite")
    assert rerun.experiment_id == result.experiment_id  # the same call resumes


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": (2, 1)}, "give increasing budgets"),
    ({"seeds": 0}, "seeds must be a whole number ≥ 1, got 0"),
    ({"seeds": 2.5}, "seeds must be a whole number ≥ 1, got 2.5"),
    ({"search_seed": -1}, "search_seed must be a whole number ≥ 0, got -1"),
    ({"store": 5}, "store must be a path"),
    ({"tasks": [(net, data()), (net, data())], "budget": True}, "budget must be a whole number ≥ 1, got True"),
    ({"optimizers": "adma"}, "unknown optimizer 'adma'"),
    ({"optimizers": []}, "is empty"),
    ({"epochs": 0}, "epochs must be a whole number ≥ 1, got 0"),
    ({"tasks": []}, "tasks is empty"),
    ({"tasks": "no-such-task"}, "no-such-task"),
    ({"budget": 8.0}, "budget"),
    ({"budget": "1,8"}, "budget"),
    ({"optimizers": 5}, "optimizers"),
    ({"tasks": (net, (*data(12)[:2], *data(100)[2:]))}, "--batch-size 32 is larger than the"),
])
def test_benchmark_bad_calls_are_user_errors_before_anything_trains(tmp_path, kwargs, message) -> None:
    call = {"tasks": "digits-mlp", "store": tmp_path / "s.sqlite", **kwargs}
    with pytest.raises(UserError, match=message):
        descentlab.benchmark(call.pop("tasks"), **call)
    assert not (tmp_path / "s.sqlite").exists()  # checked before the store is opened


def test_benchmark_of_one_model_and_data_pair_and_its_spec_file(tmp_path) -> None:
    """A pair ``(model, data)`` is one task, as compare takes it (not two tasks ``model`` and ``data``); the spec
    file of a benchmark on a task made in Python names the task (as compare's does), not its source ``python``."""
    from descentlab.specfile import flags_of

    result = descentlab.benchmark((net, data()), optimizers="adam", budget=1, seeds=1, epochs=1,
                                  store=tmp_path / "s.sqlite")
    assert result.benchmark.tasks == ["my-task"]
    assert flags_of("benchmark", result.data.experiment.spec)["tasks"] == ["my-task"]
    two = descentlab.benchmark(("digits-mlp", "mnist1d-mlp"), optimizers="adam", budget=1, seeds=1, epochs=1,
                               store=tmp_path / "s.sqlite")
    assert two.benchmark.tasks == ["digits-mlp", "mnist1d-mlp"]  # a pair of names stays two tasks
    import numpy as np

    both = descentlab.benchmark([(net, data()), (net, data(90))], optimizers="adam", budget=np.array([1]),
                                seeds=np.int64(1), epochs=1, store=tmp_path / "s.sqlite")
    assert both.benchmark.tasks == ["my-task", "my-task-2"]  # two pairs: two tasks, one name each


def test_a_notebook_that_edits_the_network_or_the_data_trains_again(tmp_path) -> None:
    """The same call under the same default name resumes only for the same network code and data: an edited
    forward (same layers, same repr) or other labels is a new experiment, never the old one's numbers."""
    store = tmp_path / "runs.sqlite"
    x, y, xt, yt = data()

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(self.a(x).tanh())

    first = descentlab.compare((Net, (x, y, xt, yt)), optimizers=["sgd"], lr=0.5, epochs=1, store=store)

    class Net(Net):  # noqa: F811 - the cell edited and run again
        def forward(self, x):
            return self.b(self.a(x).relu() * 5)

    edited = descentlab.compare((Net, (x, y, xt, yt)), optimizers=["sgd"], lr=0.5, epochs=1, store=store)
    alone = descentlab.compare((Net, (x, y, xt, yt)), optimizers=["sgd"], lr=0.5, epochs=1, store=":memory:")
    assert edited.experiment_id != first.experiment_id
    assert edited.rows[0]["train_loss"] == alone.rows[0]["train_loss"] != first.rows[0]["train_loss"]
    relabelled = descentlab.compare((Net, (x, 1 - y, xt, 1 - yt)), optimizers=["sgd"], lr=0.5, epochs=1, store=store)
    assert relabelled.experiment_id not in (first.experiment_id, edited.experiment_id)


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: descentlab.compare((net, d), seeds="2"), r"seeds must be a whole number ≥ 1, got '2'"),
    (lambda d: descentlab.compare((net, d), seeds=1.0), r"seeds must be a whole number ≥ 1, got 1.0"),
    (lambda d: descentlab.compare((net, d), lr="0.1"), r"lr must be a number, got '0.1'"),
    (lambda d: descentlab.compare((net, d), optimizers=[]), r"is empty"),
    (lambda d: descentlab.compare((net, d), optimizers=None), r"optimizers must be a name"),
    (lambda d: descentlab.compare((net, d), optimizers=["sgd", "SGD"]), r"names sgd twice"),
    (lambda d: descentlab.sweep((net, d), lr=("a", 1)), r"lr must be a number, got 'a'"),
    (lambda d: descentlab.sweep((net, d), seeds="1"), r"seeds must be a whole number"),
    (lambda d: descentlab.lr_find((net, d), optimizer=None), r"optimizer must be one name"),
])
def test_bad_arguments_are_user_errors_not_tracebacks(call, message) -> None:
    with pytest.raises(UserError, match=message):
        call(data())


def test_optimizers_are_read_as_the_command_reads_them() -> None:
    """'sgd(lr=0.1,momentum=0.9)' keeps its comma (it was split into 'sgd(lr=0.1' and 'momentum=0.9)')."""
    result = descentlab.compare((net, data()), optimizers="adam,sgd(lr=0.1,momentum=0.9)", epochs=1,
                                store=":memory:")
    assert [r["optimizer"] for r in result.summary] == ["adam", "sgd(lr=0.1,momentum=0.9)"]
    assert {r["config.hyperparameters.momentum"] for r in result.rows if r["optimizer"] != "adam"} == {0.9}
    one = descentlab.lr_find((net, data()), optimizer="sgd(momentum=0.9)", seeds=np.int64(1), steps=5,
                             store=":memory:")  # numpy's integers, as compare and benchmark take them
    assert one.summary["optimizer"] == "sgd"


def test_optimizer_classes_and_torch_datasets_go_in_as_objects() -> None:
    """A class or factory that can be imported again is its 'module:Name' reference (the same runs as the text);
    one from __main__ or a lambda is one line; (train, test) torch datasets are the task of their arrays."""
    import torch
    from torch.utils.data import TensorDataset

    x, y, xt, yt = data()
    by_class = descentlab.compare((net, data()), optimizers=[torch.optim.Adagrad], epochs=1, store=":memory:")
    by_text = descentlab.compare((net, data()), optimizers="torch.optim.adagrad:Adagrad", epochs=1, store=":memory:")
    assert [r["optimizer"] for r in by_class.summary] == ["torch.optim.adagrad:Adagrad"]
    assert [r["val_loss"] for r in by_class.rows] == [r["val_loss"] for r in by_text.rows]
    with pytest.raises(UserError, match="a lambda cannot be found again"):
        descentlab.compare((net, data()), optimizers=[lambda p: torch.optim.SGD(p, lr=0.1)], store=":memory:")
    local = type("Local", (torch.optim.SGD,), {"__module__": "__main__"})
    with pytest.raises(UserError, match="Local is defined in __main__.*pass 'path/to/file.py:Local'"):
        descentlab.compare((net, data()), optimizers=["sgd", local], store=":memory:")
    pairs = (TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
             TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt)))
    from_datasets = descentlab.compare((net, pairs), optimizers="sgd", epochs=1, store=":memory:")
    from_arrays = descentlab.compare((net, data()), optimizers="sgd", epochs=1, store=":memory:")
    assert [r["val_loss"] for r in from_datasets.rows] == [r["val_loss"] for r in from_arrays.rows]


def test_every_kind_read_back_has_its_runs_as_a_dataframe(tmp_path) -> None:
    """README: ``load_experiment(N).dataframe()`` is the experiment's rows as ``export`` writes them — for a
    benchmark and an lr-find too (AttributeError before)."""
    pytest.importorskip("pandas")
    store = tmp_path / "runs.sqlite"
    descentlab.lr_find((net, data()), optimizer="adam", seeds=1, steps=6, store=store)
    bench = descentlab.benchmark((net, data()), optimizers=["sgd"], budget=1, seeds=1, epochs=1, store=store)
    with Store(store) as s:
        for experiment in (1, 2):
            frame = descentlab.load_experiment(experiment, store=store).dataframe()
            records = s.to_records(experiment)
            assert len(frame) == len(records) > 0 and set(frame["experiment_kind"]) == {records[0]["experiment_kind"]}
        assert bench.rows == s.to_records(bench.experiment_id)


def test_lr_find_reads_its_optimizer_as_compare_does() -> None:
    """A file reference keeps its case (lr_find lower-cased it: 'my_optimizer.py:signsgd' was not found) and a class
    goes in as its module:Name, as compare's optimizers do; two optimizers are one line."""
    import torch

    path = Path(__file__).parents[1] / "examples" / "my_optimizer.py"
    by_file = descentlab.lr_find((net, data()), optimizer=f"{path}:SignSGD", seeds=1, steps=5, check_steps=0,
                                 store=":memory:")
    assert by_file.summary["optimizer"] == f"{path}:SignSGD"
    by_class = descentlab.lr_find((net, data()), optimizer=torch.optim.Adagrad, seeds=1, steps=5, check_steps=0,
                                  store=":memory:")
    assert by_class.summary["optimizer"] == "torch.optim.adagrad:Adagrad"
    with pytest.raises(UserError, match="lr_find tests one optimizer at a time"):
        descentlab.lr_find((net, data()), optimizer="adam,sgd", store=":memory:")
