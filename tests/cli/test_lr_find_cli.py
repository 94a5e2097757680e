import json

import pytest

from descentlab.cli import main
from descentlab.store import Store


def test_writes_png_json_and_the_store(tmp_path, capsys):
    png, out, db = tmp_path / "lr.png", tmp_path / "lr.json", tmp_path / "runs.sqlite"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "adam", "--seeds", "2", "--steps", "40",
                 "--check-steps", "20", "--store", str(db), "--png", str(png), "--json", str(out)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    payload = json.loads(out.read_text())
    s, ranged, check = payload["suggestion"], payload["range_test"], payload["check"]
    assert 1e-7 <= ranged["lower"] < ranged["lr"] == ranged["upper"] == ranged["steepest_lr"] < ranged["min_lr"] <= 10
    assert not ranged["checked"] and s["checked"] and s["steepest_lr"] == ranged["lr"]
    assert len(check) >= 7 and s["lr"] == min(check, key=lambda c: c["smoothed"])["lr"]
    assert payload["to_check"] == []  # the check finished: no rate left to run
    assert s["upper"] == s["lr"] and s["lower"] == pytest.approx(s["lr"] / 3) and len(payload["seeds"]) == 2
    seed = payload["seeds"][0]
    assert len(seed["lrs"]) == len(seed["smoothed"]) == len(seed["losses"])
    assert len(seed["zero_phase"]) == (len(seed["lrs"]) if seed["stop_step"] is None else seed["stop_step"])
    assert len(payload["median"]["zero_phase"]) == 40
    text = " ".join(capsys.readouterr().out.split())  # rich folds long lines
    assert "Suggested lr: " in text and "own lr" in text and "Check: short runs of 20 updates" in text
    assert "(the checked rate with the lowest training loss at the end of 20 updates" in text
    with Store(db) as store:
        assert len(store.runs(payload["experiment_id"])) == 2 + 2 * len(check)
    # `runs N` tells the check's constant-rate runs from the range test's seeds
    assert main(["runs", str(payload["experiment_id"]), "--store", str(db), "--json", str(out)]) == 0
    names = [r["optimizer"] for r in json.loads(out.read_text())["runs"]]
    assert names.count("adam (check)") == 2 * len(check) and len(names) - names.count("adam (check)") == 2
    assert all("RangeTest" in n for n in names if not n.endswith("(check)"))


def test_check_steps_0_is_the_range_test_alone(tmp_path, capsys):
    out = tmp_path / "lr.json"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "adam", "--seeds", "1", "--steps", "40",
                 "--check-steps", "0", "--store", str(tmp_path / "s.sqlite"), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["check"] == [] and payload["suggestion"] == payload["range_test"]
    assert payload["suggestion"]["lr"] == payload["suggestion"]["steepest_lr"]
    text = " ".join(capsys.readouterr().out.split())
    assert "(lr = the steepest descent, range lr/3 … lr; unchecked)" in text and "Check:" not in text


@pytest.mark.parametrize("args, message", [
    (["--task", "nope", "--optimizer", "adam"], "unknown task 'nope'; valid names: mnist-mlp"),
    (["--task", "digits-mlp", "--optimizer", "adamm"],
     "unknown optimizer 'adamm' (did you mean 'adam', 'radam' or 'nadam'?); valid names: sgd"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--start", "1", "--end", "0.1"], "must be < --end"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--steps", "1"], "--steps 1 must be a whole number ≥ 2"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--steps", "x"], "not a whole number"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--png", "a.jpg"], "use a .png or .svg"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--check-steps", "2"],
     "--check-steps 2 must be 0 (no check) or a whole number ≥ 4"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--check-steps", "-5"],
     "--check-steps -5 must be 0 (no check) or a whole number ≥ 4"),  # was "must be ≥ 1": 0 is allowed
    (["--task", "digits-mlp", "--optimizer", "adam", "--check-steps", "4.5"], "--check-steps '4.5' is not a whole"),
    # two signs: int() raised ValueError, a traceback
    (["--task", "digits-mlp", "--optimizer", "adam", "--check-steps=--5"], "--check-steps '--5' is not a whole"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--steps=+-5"], "--steps '+-5' is not a whole"),
    (["--task", "digits-mlp", "--optimizer", "adam", "--check-steps", "many"], "--check-steps"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys, tmp_path):
    assert main(["lr-find", "--store", str(tmp_path / "s.sqlite"), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err


def test_report_of_an_lr_find_experiment(tmp_path, capsys) -> None:
    store, out = tmp_path / "runs.sqlite", tmp_path / "lr.html"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "adam", "--seeds", "2", "--steps", "40",
                 "--store", str(store)]) == 0
    assert main(["report", "last", "--store", str(store), "--html", str(out)]) == 0
    page = out.read_text()
    assert "descentlab lr-find #1" in page and "Suggested learning-rate range" in page
    assert page.count('<img src="data:image/png;base64,') == 1 and "Per seed" in page


def test_json_dash_writes_only_json_to_stdout(tmp_path, capsys):
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "sgd", "--seeds", "1", "--steps", "10",
                 "--store", str(tmp_path / "s.sqlite"), "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["seeds"]  # the whole of standard output is the JSON
    assert "wrote -" not in captured.err and "Stored as experiment" in captured.err


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's "Mean of empty slice" reached the user's terminal
def test_an_lr_find_whose_every_seed_failed_has_a_report(tmp_path, capsys) -> None:
    """A user's optimizer that raises in every seed: the lr-find stores the failures, says there is no suggestion,
    and its figure and report are written (the figure raised on no curve at all)."""
    (tmp_path / "boom.py").write_text("import torch\n\n\nclass Boom(torch.optim.SGD):\n"
                                      "    def step(self, closure=None):\n        raise RuntimeError('boom')\n")
    store = str(tmp_path / "f.sqlite")
    png = tmp_path / "lr.png"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", f"{tmp_path / 'boom.py'}:Boom", "--seeds", "2",
                 "--steps", "20", "--store", store, "--png", str(png)]) == 0
    captured = capsys.readouterr()
    assert "No suggestion" in captured.out and png.stat().st_size > 0
    page = tmp_path / "lr.html"
    assert main(["report", "last", "--store", store, "--html", str(page)]) == 0
    assert "<img" in page.read_text(encoding="utf-8")


def test_the_suggestion_ends_with_a_sweep_command_that_runs(tmp_path, capsys) -> None:
    """lr-find's runs are short, not a long run: it says so and prints the sweep that confirms its range
    (a third of the range's lower end … three times its upper), a command that runs as printed."""
    import shlex

    db = tmp_path / "runs.sqlite"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "momentum", "--seeds", "1", "--steps", "30",
                 "--check-steps", "12", "--store", str(db), "--json", str(tmp_path / "lr.json")]) == 0
    s = json.loads((tmp_path / "lr.json").read_text())["suggestion"]
    text = " ".join(capsys.readouterr().out.split())  # rich folds long lines
    hint = text[text.index("descentlab sweep"):text.index(" (lr-find's runs are short")]
    argv = shlex.split(hint)[1:]
    lo, hi = argv[argv.index("--lr") + 1].split("..")
    assert float(lo) == pytest.approx(s["lower"] / 3, rel=0.05) and float(hi) == pytest.approx(s["upper"] * 3, rel=0.05)
    assert argv[:5] == ["sweep", "--task", "digits-mlp", "--optimizers", "momentum"]
    assert main([*argv, "--epochs", "1", "--store", str(db)]) == 0


def test_check_steps_00_is_0(tmp_path, capsys):
    """0 written another way is still 0, the range test alone (it was refused as '--check-steps 0 must be ≥ 1')."""
    out = tmp_path / "lr.json"
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", "adam", "--seeds", "1", "--steps", "10",
                 "--check-steps", "00", "--store", str(tmp_path / "s.sqlite"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["check"] == []


def test_check_runs_that_fail_are_said_with_their_error(tmp_path, capsys) -> None:
    """A user's optimizer that raises in the check's runs (here: after 5 updates at one rate): the output said only
    'the check has not finished … the same lr-find again resumes it', not that runs failed, nor why."""
    (tmp_path / "steady.py").write_text(
        "import torch\n\n\nclass Steady(torch.optim.SGD):\n"
        "    def step(self, closure=None):\n"
        "        lr = self.param_groups[0]['lr']\n"
        "        self.same = getattr(self, 'same', 0) + 1 if lr == getattr(self, 'last', None) else 0\n"
        "        self.last = lr\n"
        "        if self.same >= 5:\n"
        "            raise ValueError('a constant rate is not allowed')\n"
        "        return super().step(closure)\n")
    assert main(["lr-find", "--task", "digits-mlp", "--optimizer", f"{tmp_path / 'steady.py'}:Steady", "--seeds",
                 "1", "--steps", "20", "--check-steps", "8", "--store", str(tmp_path / "s.sqlite")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "the check has not finished (7 of its rates still to run" in text
    assert ("7 runs failed (the first: ValueError: a constant rate is not allowed); descentlab runs 1 --store "
            in text)


@pytest.mark.parametrize("what", [["--task", "examples/my_task.py:regression"], ["--data", "examples/wine.csv"]])
def test_the_sweep_command_of_a_users_task_names_its_file(what, tmp_path, capsys, monkeypatch) -> None:
    """A user's task file or data file: the printed sweep said '--task sine' (the task's name, which a new process
    does not know: 'unknown task'); it names the file the task came from, and runs as printed."""
    import shlex
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).parents[2])  # the examples' relative paths
    db = tmp_path / "runs.sqlite"
    assert main(["lr-find", *what, "--optimizer", "sgd", "--seeds", "1", "--steps", "20", "--check-steps", "8",
                 "--store", str(db)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    hint = text[text.index("descentlab sweep"):text.index(" (lr-find's runs are short")]
    argv = shlex.split(hint)[1:]
    assert argv[1:3] == what
    assert main([*argv, "--epochs", "1", "--store", str(db)]) == 0


def test_two_lr_finds_of_one_spec_at_once_share_its_runs_and_its_answer(tmp_path) -> None:
    """Two processes start the same lr-find on one store: each succeeds, the experiment holds each run once (the
    second waits for the runs the first holds instead of failing on them), and both answer what one alone does."""
    import subprocess
    import sys

    db = tmp_path / "runs.sqlite"
    args = ["lr-find", "--task", "digits-mlp", "--optimizer", "adam", "--seeds", "2", "--steps", "30",
            "--check-steps", "20"]
    procs = [subprocess.Popen([sys.executable, "-m", "descentlab", *args, "--store", str(db), "--json",
                               str(tmp_path / f"{k}.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for k in range(2)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    answers = [json.loads((tmp_path / f"{k}.json").read_text()) for k in range(2)]
    assert main([*args, "--store", str(tmp_path / "alone.sqlite"), "--json", str(tmp_path / "alone.json")]) == 0
    alone = json.loads((tmp_path / "alone.json").read_text())
    for answer in answers:
        assert answer["experiment_id"] == 1
        assert answer["suggestion"] == alone["suggestion"] and answer["check"] == alone["check"]
    with Store(db) as store:
        runs = store.runs(1)
        assert len(runs) == len({r.trial_key for r in runs}) == 2 + 2 * len(alone["check"])
