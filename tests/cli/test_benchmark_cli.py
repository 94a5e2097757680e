"""``descentlab benchmark`` end to end on a tiny real benchmark (digits, 1 epoch, a foreign optimizer taking part):
the same command twice gives the same trials and scores, rerunning it resumes, bad input is one line."""

from __future__ import annotations

import json

import pytest

from descentlab.cli import main
from descentlab.store import Store
from tests.cli.harness import run_cli as _run

FOREIGN = '''
import torch


class MySGD(torch.optim.SGD):
    """Heavy-ball SGD with its own defaults: a torch.optim.Optimizer from a file, not one of descentlab's rules."""

    def __init__(self, params, lr=0.01, momentum=0.9):
        super().__init__(params, lr=lr, momentum=momentum)
'''


def _args(tmp) -> list[str]:
    return ["benchmark", "--tasks", "digits-mlp", "--optimizers", f"sgd,adam,{tmp / 'my_opt.py'}:MySGD",
            "--budget", "1,2", "--seeds", "2", "--epochs", "1", "--quiet"]



@pytest.fixture(scope="module")
def benched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benchmark")
    (tmp / "my_opt.py").write_text(FOREIGN)
    results = []
    for name in ("a", "b"):
        code, out = _run([*_args(tmp), "--store", str(tmp / f"{name}.sqlite"), "--json", str(tmp / f"{name}.json")])
        assert code == 0, out
        results.append((out, json.loads((tmp / f"{name}.json").read_text())))
    return tmp, results


def _without_timings(payload: dict) -> dict:
    cells = [{k: v for k, v in c.items() if k != "seconds_to_target"} for c in payload["cells"]]
    return {"scores": payload["scores"], "cells": cells, "spec": payload["spec"]}


def test_the_same_command_twice_gives_the_same_trials_and_scores(benched):
    tmp, ((_, a), (_, b)) = benched
    assert _without_timings(a) == _without_timings(b)
    keys = []
    for name in ("a", "b"):
        with Store(tmp / f"{name}.sqlite") as store:
            keys.append(sorted((r.trial_key, r.status) for r in store.runs("last")))
    assert keys[0] == keys[1]
    foreign = f"{tmp / 'my_opt.py'}:MySGD"
    # tuning: sgd 2 points (lr), adam 2, MySGD 2 (lr, momentum); evaluation: 2 seeds per distinct selection
    distinct = {(c["optimizer"], c["selected"]) for c in a["cells"]}
    assert len(keys[0]) == 6 + 2 * len(distinct)
    assert {c["optimizer"] for c in a["cells"]} == {"sgd", "adam", foreign}
    assert a["spec"]["space"][foreign] == ["lr log-uniform on [0.0001, 1]",
                                            "momentum: 1 − momentum log-uniform on [0.001, 0.5]"]
    assert a["spec"]["search"][foreign][0] == {"lr": 0.01, "momentum": 0.9}  # trial #0: its own defaults


def test_selection_is_the_best_validation_of_the_prefix_and_evaluated_at_fresh_seeds(benched):
    tmp, ((out, a), _) = benched
    with Store(tmp / "a.sqlite") as store:
        runs = store.runs("last")
    for cell in a["cells"]:
        assert cell["selected"] in range(cell["budget"])
        assert len(cell["test"]) == 2 and all(0 <= t <= 1 for t in cell["test"])
        evals = [r for r in runs if r.optimizer == cell["optimizer"] and r.seed in (1, 2)
                 and r.config["hyperparameters"]["lr"] == cell["point"]["lr"]]
        assert sorted(r.summary["final"]["test_acc"] for r in evals) == sorted(cell["test"])
    for budget in ("1", "2"):
        assert set(a["scores"][budget]) == {c["optimizer"] for c in a["cells"]}
    assert "Performance-profile score by tuning budget" in out and "Per task at budget 2" in out


def test_rerunning_the_command_resumes_without_training_again(benched):
    tmp, ((_, a), _) = benched
    code, out = _run([*_args(tmp), "--store", str(tmp / "a.sqlite"), "--json", str(tmp / "again.json")])
    assert code == 0 and "already in the store, resumed" in out
    with Store(tmp / "a.sqlite") as store:
        assert len(store.experiments()) == 1
    assert _without_timings(json.loads((tmp / "again.json").read_text())) == _without_timings(a)


@pytest.mark.parametrize("flags, message", [
    (["--budget", "0"], "--budget 0 must be ≥ 1"),
    (["--budget", "8,2"], "--budget 8,2: give increasing budgets, each once"),
    (["--tasks", "digits-mlp,nope"], "unknown task 'nope'"),
    (["--optimizers", "adam,nope"], "unknown optimizer 'nope'"),
    (["--search-seed", "x"], "--search-seed 'x' must be a whole number ≥ 0"),
])
def test_bad_input_is_one_line_and_exit_2(flags, message, capsys, tmp_path):
    code = main(["benchmark", *flags, "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s.sqlite").exists()  # refused before anything was made


def test_a_batch_size_larger_than_the_data_is_refused_before_the_store_is_made(capsys, tmp_path):
    """The data are loaded and the batch sizes checked before the store file is created (as before the benchmark
    moved into experiments/benchmark.run)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "small.npz", x_train=x[:8], y_train=y[:8], x_test=x[8:], y_test=y[8:])
    code = main(["benchmark", "--tasks", str(tmp_path / "small.npz"), "--optimizers", "adam", "--budget", "1",
                 "--seeds", "1", "--epochs", "1", "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "--batch-size 32 is larger than the 7 training examples" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.usefixtures("forget_user_tasks")
def test_a_user_task_without_a_target_says_why_it_scores_0(tmp_path, capsys):
    """A user's task has no target unless it sets one: no run has a time to target, every score was 0, and
    nothing said why. One line says so (the score, 0, is what the protocol gives: docs/benchmark.md §6)."""
    from tests.cli.test_byo_task_cli import TASK

    (tmp_path / "my_task.py").write_text(TASK)
    args = ["benchmark", "--tasks", f"{tmp_path / 'my_task.py'}:task", "--optimizers", "sgd,adam", "--budget", "1",
            "--seeds", "2", "--store", str(tmp_path / "runs.sqlite"), "--json", str(tmp_path / "b.json"), "-q"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert json.loads((tmp_path / "b.json").read_text())["scores"] == {"1": {"sgd": 0.0, "adam": 0.0}}
    notes = [line for line in out.splitlines() if line.startswith("note: tiny")]
    assert notes == ["note: tiny has no target val acc (custom_task(target=...)): no time to target, so it adds 0 to "
                     "every score; compare there on the test metric"]
    md = tmp_path / "r.md"
    assert main(["report", "last", "--store", str(tmp_path / "runs.sqlite"), "--md", str(md)]) == 0
    assert "Note: tiny has no target val acc" in md.read_text()


def test_a_task_no_optimizer_brings_to_target_is_said_so(benched):
    """The built-in tasks keep their scores; where no optimizer reached the target, a line says that is why."""
    from descentlab.report import benchmark as report_benchmark
    from descentlab.report.data import load

    tmp, ((out, payload), _) = benched
    with Store(tmp / "a.sqlite") as store:
        b = report_benchmark.analyse(load(store, "last"))
    assert {str(k): v for k, v in ((n, b.scores(n)) for n in b.budgets)} == payload["scores"]
    reached = any(b.cell("digits-mlp", o, 2).time != float("inf") for o in b.optimizers)
    line = "note: budget 2, digits-mlp: no optimizer reached its target (val acc 0.95) on at least half of its seeds"
    assert (line in out) == (not reached)
