"""``descentlab sweep`` end to end on a tiny real sweep (digits, 1 epoch), and its one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
import sys

import pytest

from descentlab.cli import main

ARGS = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--lr", "1e-2..1e10", "--points", "3",
        "--seeds", "2", "--epochs", "1"]
# sgd: lr 1e10 gives a non-finite loss within 3 steps; lr 1e4 a finite mean loss of ~1e15 (from a starting loss of
# 2.3), diverged by the 100×-the-starting-loss rule; adam explodes at both (finite losses ~1e10), so diverges too.


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    store, out = tmp / "runs.sqlite", io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*ARGS, "--store", str(store), "--json", str(tmp / "sweep.json")])
    return code, out.getvalue(), json.loads((tmp / "sweep.json").read_text()), store


def test_sweep_runs_every_trial_and_writes_json(swept):
    code, _, data, _ = swept
    assert code == 0
    assert data["spec"]["lr_min"] == 0.01 and data["spec"]["points"] == 3
    assert len(data["runs"]) == 2 * 3 * 2 and len({r["trial_key"] for r in data["runs"]}) == 12
    assert {r["lr"] for r in data["runs"]} == {0.01, 1e4, 1e10}
    run = data["runs"][0]
    assert {"run_id", "trial_key", "optimizer", "variant", "lr", "seed", "status", "config", "summary"} <= set(run)
    entry = next(o for o in data["optimizers"] if o["optimizer"] == "sgd")
    assert {"variant", "trials", "runs", "diverged", "chosen_lr", "val_acc_at_chosen_lr", "test_acc_at_chosen_lr",
            "points"} <= set(entry)
    assert (entry["trials"], entry["runs"], entry["diverged"]) == (3, 6, 4)
    assert set(data["best"]) == {"sgd", "adam"}


def test_best_lr_is_chosen_on_validation_and_test_is_reported_there(swept):
    _, _, data, _ = swept
    for entry in data["optimizers"]:
        runs = [r for r in data["runs"] if r["optimizer"] == entry["optimizer"]]
        by_lr = {}
        for r in runs:
            by_lr.setdefault(r["lr"], []).append(r)
        clean = {lr: rs for lr, rs in by_lr.items() if all(r["status"] == "completed" for r in rs)}
        val = {lr: statistics.fmean(r["summary"]["final"]["val_acc"] for r in rs) for lr, rs in clean.items()}
        best = max(sorted(val), key=lambda lr: val[lr])
        assert entry["chosen_lr"] == best
        assert entry["val_acc_at_chosen_lr"]["mean"] == pytest.approx(val[best])
        tests = [r["summary"]["final"]["test_acc"] for r in clean[best]]
        assert entry["test_acc_at_chosen_lr"]["mean"] == pytest.approx(statistics.fmean(tests))
        assert entry["test_acc_at_chosen_lr"]["std"] == pytest.approx(statistics.stdev(tests))
        assert entry["test_acc_at_chosen_lr"]["n"] == 2
        assert data["best"][entry["optimizer"]]["lr"] == best


def test_tables_show_budget_and_mark_divergence(swept):
    _, out, data, _ = swept
    assert "Tuning budget and chosen learning rate" in out and "Learning-rate sensitivity" in out
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│")}
    # both diverge at 1e10 (sgd non-finite, adam exploded to a finite ~1e10 loss), neither at 0.01
    assert rows["1e+10"][:2] == ["div", "div"] and "div" not in rows["0.01"][:2]
    sgd_points = {p["lr"]: p for p in next(o for o in data["optimizers"] if o["optimizer"] == "sgd")["points"]}
    assert sgd_points[1e10]["diverged"] == 2 and sgd_points[1e10]["val_acc"] is None
    assert rows["0.01"][1].endswith("*")  # adam's chosen rate is starred
    assert "sgd lr=1e+10 seed=0: diverged at step" in out


def test_a_chosen_lr_at_the_bottom_of_the_grid_is_warned_about(swept):
    _, out, data, _ = swept
    # both optimizers choose 0.01, the lowest rate of the grid: the best may lie below it
    for name in ("sgd", "adam"):
        warning = f"{name}: chosen lr 0.01 is the bottom of the grid 0.01..1e+10: widen --lr"
        assert f"warning: {warning}" in out.splitlines()
        assert next(o for o in data["optimizers"] if o["optimizer"] == name)["chosen_lr_warning"] == warning
        assert data["best"][name]["lr_warning"] == warning


def test_the_same_command_resumes_and_fresh_starts_over(swept, capsys):
    _, _, _, store = swept
    assert main([*ARGS, "--store", str(store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "12 already in the store, resumed" in out and "experiment 1 " in out


@pytest.mark.parametrize("extra, message", [
    (["--optimizers", "sgd,foo"], "unknown optimizer 'foo'"),
    (["--task", "nope"], "unknown task 'nope'"),
    (["--lr", "1..0.1"], "need 0 < LO ≤ HI"),
    (["--lr", "0.1"], "must look like LO..HI"),
    (["--points", "0"], "--points 0 must be ≥ 1"),
    (["--optimizers", "sgd", "--beta1", "0.9"], "none of sgd has a hyperparameter 'beta1'"),
    (["--momentum", "0.9,x"], "is not a number"),
    (["--hp", "eps"], "must look like NAME=V1,V2"),
    (["--hp", "betas=(0.9,x)"], "--hp betas '(0.9,x)' is not a number, true/false, a tuple of numbers"),
    (["--hp", "betas=(0.9,inf)"], "is not a number, true/false, a tuple of numbers"),
    (["--batch-size", "8,16"], "one batch size"),
    (["--group-size", "0"], "--group-size 0 must be ≥ 1"),
    (["--executor", "dask"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    store = tmp_path / "runs.sqlite"
    try:
        code = main([*ARGS, *extra, "--store", str(store)])
    except SystemExit as exc:  # argparse's own errors exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not store.exists()


def test_ray_executor_without_ray_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main([*ARGS, "--executor", "ray", "--store", str(tmp_path / "runs.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'descentlab[ray]'" in err


def test_a_hyperparameter_an_optimizer_lacks_is_skipped_with_a_note(tmp_path, capsys):
    argv = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--lr", "1e-2..1e-2", "--points", "1",
            "--epochs", "1", "--momentum", "0.5,0.9", "--quiet", "--store", str(tmp_path / "r.sqlite"),
            "--json", str(tmp_path / "s.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: adam has no hyperparameter 'momentum'; swept without it" in out
    data = json.loads((tmp_path / "s.json").read_text())
    assert [o["variant"] for o in data["optimizers"]] == ["sgd (momentum=0.5)", "sgd (momentum=0.9)", "adam"]
    assert data["best"]["sgd"]["trials"] == 2 and not math.isnan(data["best"]["adam"]["val_acc"]["mean"])


def test_hp_takes_tuples_words_and_booleans_and_the_spec_file_reads_them_back(tmp_path, capsys):
    """An optimizer's constructor takes more than numbers (Adam's betas, a mode, a flag): --hp lists them, each
    run trains with its values, and the spec file that `report --toml` writes resumes the same sweep."""
    path = tmp_path / "opts.py"
    path.write_text("import torch\n\n\ndef tuned(params, lr=0.1, betas=(0.9, 0.999), mode='a', flag=False):\n"
                    "    assert mode in ('a', 'b') and isinstance(flag, bool) and isinstance(betas, tuple)\n"
                    "    return torch.optim.Adam(params, lr=lr, betas=betas)\n")
    store, out = tmp_path / "runs.sqlite", tmp_path / "sweep.json"
    argv = ["sweep", "--task", "digits-mlp", "--optimizers", f"{path}:tuned", "--lr", "1e-2..1e-2", "--points", "1",
            "--epochs", "1", "--store", str(store)]
    assert main([*argv, "--hp", "betas=(0.5,0.9),[0.9, 0.99]", "--hp", "mode=a,'b'", "--hp", "flag=true,false",
                 "--json", str(out), "--quiet"]) == 0
    runs = json.loads(out.read_text())["runs"]
    seen = {(tuple(r["config"]["hyperparameters"]["betas"]), r["config"]["hyperparameters"]["mode"],
             r["config"]["hyperparameters"]["flag"]) for r in runs}
    assert seen == {(b, m, f) for b in ((0.5, 0.9), (0.9, 0.99)) for m in "ab" for f in (True, False)}
    assert all(r["status"] == "completed" for r in runs)
    assert main(["report", "last", "--store", str(store), "--toml", str(tmp_path / "s.toml")]) == 0
    capsys.readouterr()
    assert main(["sweep", "--spec", str(tmp_path / "s.toml"), "--store", str(store), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "8 already in the store, resumed" in " ".join(printed.split()), printed
