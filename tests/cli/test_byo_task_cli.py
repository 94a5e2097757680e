"""compare, sweep and lr-find on a user's task (--task file.py:name) or data file (--data); one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from descentlab.cli import main
from descentlab.store import Store

pytestmark = pytest.mark.usefixtures("forget_user_tasks")

TASK = """
import numpy as np
from torch import nn
from descentlab.tasks import custom_task

rng = np.random.default_rng(0)
x = rng.normal(size=(90, 4)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
task = custom_task("tiny", model=lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
                   x_train=x[:70], y_train=y[:70], x_test=x[70:], y_test=y[70:], epochs=2, batch_size=16)
"""


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def spec_of(store) -> dict:
    with Store(store) as s:
        return s.experiment("last").spec


def test_compare_on_a_task_file_stores_its_source_and_resumes_until_it_is_edited(tmp_path, capsys) -> None:
    path, store = tmp_path / "my_task.py", tmp_path / "runs.sqlite"
    path.write_text(TASK)
    args = ("compare", "--task", f"{path}:task", "--optimizers", "sgd,adam", "--quiet", "--store", str(store))
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert out.startswith("tiny: sgd, adam — 2 runs") and "Stored as experiment 1" in out
    spec = spec_of(store)
    assert spec["task"] == "tiny" and spec["task_source"] == f"{path}:task" and len(spec["task_fingerprint"]) == 64
    assert spec["task_data"]["shapes"]["x_train"] == [70, 4]
    code, out, _ = cli(capsys, *args)
    assert code == 0 and "2 already in the store, resumed" in out and "Stored as experiment 1" in out
    path.write_text(TASK.replace("nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)", "nn.Linear(4, 2)"))
    code, out, _ = cli(capsys, *args)
    assert code == 0 and "resumed" not in out and "Stored as experiment 2" in out  # edited code: new experiment
    code, out, _ = cli(capsys, "report", "last", "--store", str(store), "--html", str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert code == 0 and f"task: tiny (from {path}:task, sha256 {spec_of(store)['task_fingerprint'][:16]})" in html


def test_sweep_and_lr_find_take_the_same_task_file(tmp_path, capsys) -> None:
    path, store = tmp_path / "my_task.py", tmp_path / "runs.sqlite"
    path.write_text(TASK)
    code, out, err = cli(capsys, "sweep", "--task", str(path), "--optimizers", "sgd", "--lr", "0.01..1",
                         "--points", "2", "--quiet", "--store", str(store))
    assert code == 0, err
    assert "Tuning budget" in out
    assert spec_of(store)["task_source"] == str(path)
    code, out, err = cli(capsys, "lr-find", "--task", str(path), "--optimizer", "adam", "--seeds", "1",
                         "--steps", "10", "--store", str(store), "--json", str(tmp_path / "lr.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "lr.json").read_text())["spec"]["task"] == "tiny"
    assert spec_of(store)["task_source"] == str(path)


def test_data_files_on_the_default_mlp(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "pts.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    store = tmp_path / "runs.sqlite"
    code, out, err = cli(capsys, "compare", "--data", str(tmp_path / "pts.npz"), "--optimizers", "adam",
                         "--epochs", "2", "--quiet", "--store", str(store))
    assert code == 0, err
    assert out.startswith("pts: adam")
    assert spec_of(store)["task_data"]["shapes"] == {"x_train": [80, 3], "y_train": [80], "x_test": [20, 3],
                                                      "y_test": [20]}
    rows = ["f1,f2,target"] + [f"{a:.4f},{b:.4f},{c:.4f}" for a, b, c in zip(x[:, 0], x[:, 1], x[:, 0] * 2)]
    (tmp_path / "reg.csv").write_text("\n".join(rows) + "\n")
    code, out, err = cli(capsys, "compare", "--data", str(tmp_path / "reg.csv"), "--label-column", "target",
                         "--optimizers", "sgd", "--epochs", "2", "--quiet", "--store", str(store))
    assert code == 0, err
    assert "val loss" in out and "Best on validation: sgd (batch 32) with" in out and "final val loss" in out
    assert spec_of(store)["task_metric"] == "loss"


def test_data_files_say_in_one_line_what_they_hold_that_training_cannot_use(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    y_test = np.where(np.arange(20) % 5 == 0, 2, y[80:])  # class 2: 4 test examples, none in training
    np.savez(tmp_path / "new.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y_test)
    np.savez(tmp_path / "floats.npz", x_train=x[:80], y_train=y[:80].astype(np.float32), x_test=x[80:],
             y_test=y[80:].astype(np.float32))
    store = tmp_path / "runs.sqlite"
    code, out, err = cli(capsys, "compare", "--data", str(tmp_path / "new.npz"), "--optimizers", "adam",
                         "--epochs", "1", "--quiet", "--store", str(store))
    assert code == 0 and err == ("descentlab: warning: task 'new': y_test has class(es) 2 (4 of its 20 examples) "
                                 "that y_train never has: no training example teaches them, so each counts as an "
                                 "error in the accuracy\n")
    assert "final test acc" in out  # trained: the default MLP has an output for class 2
    code, out, err = cli(capsys, "compare", "--data", str(tmp_path / "floats.npz"), "--optimizers", "adam",
                         "--epochs", "1", "--quiet", "--store", str(store))
    assert code == 0 and err.count("\n") == 1 and "final val loss" in out
    assert err.startswith("descentlab: warning: task 'floats': y_train is float32 holding only whole numbers (0, 1): "
                          "read as regression targets (mse loss); for classification store the labels as integers")


@pytest.mark.parametrize(("argv", "message"), [
    (["compare", "--task", "{d}/none.py:task"], "task file '{d}/none.py' not found"),
    (["compare", "--task", "{d}/broken.py:task"], "importing task file {d}/broken.py raised NameError (line 2)"),
    (["compare", "--task", "{d}/notask.py:task"], "{d}/notask.py:task is a dict, not a task"),
    (["compare", "--data", "{d}/short.npz"], "{d}/short.npz: missing array(s) y_test"),
    (["sweep", "--data", "{d}/none.csv"], "data file '{d}/none.csv' not found"),
    (["compare", "--data", "{d}/labels.npz"], "task 'labels': y_train must be class labels"),
    (["compare", "--data", "{d}/short.npz", "--task", "digits-mlp"], "give one of them"),
    (["compare", "--label-column", "y"], "--label-column and --test-data go with --data FILE.csv"),
    (["lr-find", "--optimizer", "adam"], "say what to train on: --task NAME"),
    (["compare", "--data", "{d}/x.txt"], "use an .npz or a .csv file"),
    (["compare", "--task", "{d}/unseen.py:task"],  # a label the network's 2 outputs cannot hold
     "at least 3 classes (label 2 is in y_test, never in y_train)"),
])
def test_bad_input_is_one_line_and_exit_2_before_training(tmp_path, capsys, argv, message) -> None:
    (tmp_path / "broken.py").write_text("import numpy\nundefined_name\n")
    (tmp_path / "notask.py").write_text("task = {}\n")
    (tmp_path / "x.txt").write_text("1,2\n")
    (tmp_path / "ok.py").write_text(TASK)
    (tmp_path / "unseen.py").write_text(TASK.replace("y_test=y[70:]", "y_test=np.where(np.arange(20) < 3, 2, y[70:])"))
    z = np.zeros((4, 2))
    np.savez(tmp_path / "short.npz", x_train=z, y_train=z[:, 0], x_test=z)
    np.savez(tmp_path / "labels.npz", x_train=z, y_train=-np.ones(4, dtype=np.int64), x_test=z,
             y_test=np.ones(4, dtype=np.int64))
    store = tmp_path / "runs.sqlite"
    code, out, err = cli(capsys, *[a.format(d=tmp_path) for a in argv], "--store", str(store))
    assert code == 2 and out == ""
    assert message.format(d=tmp_path) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not store.exists()  # nothing ran, not even the store was made


@pytest.mark.slow
def test_a_task_from_a_file_sweeps_on_ray_as_it_does_locally(tmp_path, capsys, monkeypatch) -> None:
    """Ray's workers get the task object, its file's code pickled by value: they need neither the file nor its
    module, and store what the local executor stores."""
    pytest.importorskip("ray", reason="Ray is optional: pip install 'descentlab[ray]' to run this test")
    (tmp_path / "ok.py").write_text(TASK)
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--task", "ok.py", "--optimizers", "sgd,adam", "--lr", "1e-2..1e-1", "--points", "2",
            "--group-size", "2", "--quiet"]
    stored = {}
    for executor in ("local", "ray"):
        store = tmp_path / f"{executor}.sqlite"
        code, _, err = cli(capsys, *args, "--executor", executor, "--store", str(store))
        assert code == 0, err
        with Store(store) as s:
            stored[executor] = {r.trial_key: (r.status, [e["train_loss"] for e in s.epochs(r.id)])
                                for r in s.runs("last")}
    assert len(stored["ray"]) == 4 and all(status == "completed" for status, _ in stored["ray"].values())
    assert stored["ray"] == stored["local"]
