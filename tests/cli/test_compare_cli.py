"""`descentlab compare` as a user runs it: output, JSON, store, resume, and one-line errors."""

from __future__ import annotations

import json
import sqlite3

import pytest

from descentlab.cli import main

FAST = ["--task", "digits-mlp", "--epochs", "2", "--quiet"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compare_prints_table_writes_json_and_stores_every_epoch(tmp_path, capsys) -> None:
    store, js = tmp_path / "runs.sqlite", tmp_path / "out.json"
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd,adam", "--seeds", "2", "--store", str(store),
                         "--json", str(js))
    assert code == 0, err
    assert "Resolved hyperparameters" in out and "adam: amsgrad=False" in out
    assert "Best on validation:" in out and f"Stored as experiment 1 in {store}" in out
    payload = json.loads(js.read_text())
    assert {r["optimizer"] for r in payload["runs"]} == {"sgd", "adam"}
    assert len(payload["runs"]) == 4 and {r["seed"] for r in payload["runs"]} == {0, 1}
    assert all(r["status"] == "completed" for r in payload["runs"])
    assert {g["optimizer"] for g in payload["optimizers"]} == {"sgd", "adam"}
    with sqlite3.connect(store) as db:
        assert db.execute("select count(*) from epochs").fetchone()[0] == 4 * 2


def test_same_command_resumes_and_trains_nothing(tmp_path, capsys) -> None:
    store = tmp_path / "runs.sqlite"
    assert run(capsys, *FAST, "--optimizers", "sgd", "--store", str(store))[0] == 0
    code, out, _ = run(capsys, *FAST, "--optimizers", "sgd", "--store", str(store))
    assert code == 0 and "1 already in the store, resumed" in out
    code, out, _ = run(capsys, *FAST, "--optimizers", "sgd", "--store", str(store), "--fresh")
    assert code == 0 and "Stored as experiment 2" in out


def test_batch_size_list_compares_batch_stochastic_and_minibatch(tmp_path, capsys) -> None:
    js = tmp_path / "out.json"
    code, _, err = run(capsys, "--task", "digits-mlp", "--epochs", "1", "--quiet", "--optimizers", "sgd",
                       "--batch-size", "full,1,32", "--store", str(tmp_path / "s.sqlite"), "--json", str(js))
    assert code == 0, err
    runs = json.loads(js.read_text())["runs"]
    steps = {r["config"]["batch_size"]: r["summary"]["steps"] for r in runs}
    n_train = steps[1]  # one step per example
    assert steps == {"full": 1, 1: n_train, 32: -(-n_train // 32)}


def test_vectorized_and_one_by_one_agree(tmp_path, capsys) -> None:
    results = {}
    for flag in ("--vectorize", "--no-vectorize"):
        js = tmp_path / f"{flag}.json"
        assert run(capsys, *FAST, "--optimizers", "sgd,momentum,adam", flag, "--store",
                   str(tmp_path / f"{flag}.sqlite"), "--json", str(js))[0] == 0
        results[flag] = {r["optimizer"]: r["summary"]["final"]["val_loss"] for r in json.loads(js.read_text())["runs"]}
    for name, loss in results["--vectorize"].items():
        assert loss == pytest.approx(results["--no-vectorize"][name], rel=1e-4)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--optimizers", "sgd,adamm"],
     "unknown optimizer 'adamm' (did you mean 'adam', 'radam' or 'nadam'?); valid names: sgd, momentum"),
    (["--task", "mnist2d"],
     "unknown task 'mnist2d' (did you mean 'mnist1d-mlp', 'mnist1d-cnn' or 'mnist-mlp'?); valid names:"),
    (["--lr", "-1"], "--lr -1 must be a finite number > 0"),
    (["--lr", "abc"], "--lr 'abc' is not a number"),
    (["--epochs", "0"], "--epochs 0 must be ≥ 1"),
    (["--batch-size", "0"], "--batch-size 0 must be ≥ 1"),
    (["--optimizers", "rmsprop", "--preset", "keras", "--lr", "1e-3", "--seeds", "x"], "--seeds 'x' is not a whole"),
    (["--md", "no-such-folder/report.md"], "folder no-such-folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv, expected) -> None:
    code, _, err = run(capsys, "--store", str(tmp_path / "s.sqlite"), *argv)
    assert code == 2
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "s.sqlite").exists(), "nothing is stored for a command that never ran"


def test_optimizer_message_for_a_bad_hyperparameter_reaches_the_user(tmp_path, capsys, monkeypatch) -> None:
    from descentlab.experiments import presets

    bad = presets.Preset("torch", init="torch", batch_size=None, hyper={"adam": {"eps": -1.0}})
    monkeypatch.setitem(presets.PRESETS, "torch", bad)
    code, _, err = run(capsys, *FAST, "--optimizers", "adam", "--store", str(tmp_path / "s.sqlite"))
    assert code == 2 and "adam: invalid eps=-1.0; allowed: a number > 0.0" in err


def test_the_report_hint_names_the_store_so_it_can_be_copied(tmp_path, capsys, monkeypatch) -> None:
    store = tmp_path / "my runs.sqlite"
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd", "--store", str(store))
    assert code == 0, err
    hint = next(line for line in out.splitlines() if line.startswith("Report: "))
    assert hint == f"Report: descentlab report 1 --store '{store}' --html report.html"
    monkeypatch.chdir(tmp_path)
    import shlex

    assert main(shlex.split(hint.removeprefix("Report: descentlab "))) == 0
    assert (tmp_path / "report.html").is_file()


def test_runs_before_anything_is_stored_and_plain_descentlab_are_not_errors(tmp_path, capsys) -> None:
    missing = tmp_path / "none" / "runs.sqlite"
    assert main(["runs", "--store", str(missing)]) == 0
    out = capsys.readouterr().out
    assert "no experiments yet" in out and not missing.parent.exists()  # nothing is made by looking
    assert main([]) == 0
    assert "usage: descentlab" in capsys.readouterr().out


def test_json_dash_writes_only_json_to_stdout(tmp_path, capsys) -> None:
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd,adam", "--store", str(tmp_path / "s.sqlite"),
                         "--json", "-")
    assert code == 0, err
    payload = json.loads(out)  # the whole of standard output is the JSON
    assert {r["optimizer"] for r in payload["runs"]} == {"sgd", "adam"}
    assert "Stored as experiment 1" in err and "Best on validation" in err


def test_compare_states_that_its_rates_are_untuned_and_how_to_tune_them(tmp_path, capsys) -> None:
    store = tmp_path / "s.sqlite"
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd,adam", "--store", str(store))
    assert code == 0, err
    protocol = next(line for line in out.splitlines() if line.startswith("Protocol: "))
    assert "no hyperparameter search" in protocol and "descentlab sweep --optimizers NAMES --lr 1e-4..1" in out
    md = tmp_path / "r.md"
    assert main(["report", "--store", str(store), "--md", str(md)]) == 0
    assert "no hyperparameter search" in md.read_text() and "chooses each one's on validation" in md.read_text()


def test_html_and_md_write_the_experiments_report_when_it_is_done(tmp_path, capsys) -> None:
    page, md = tmp_path / "report.html", tmp_path / "report.md"
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd", "--batch-size", "full,32", "--store",
                         str(tmp_path / "s.sqlite"), "--html", str(page), "--md", str(md))
    assert code == 0, err
    assert f"wrote {page}" in out and f"wrote {md}" in out
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "descentlab compare #1" in text
    assert "Training loss per update" in text and "Batch vs stochastic vs mini-batch gradient descent" in text
    figures = sorted((tmp_path / "report_files").glob("figure-*.png"))
    assert figures and all(f.read_bytes().startswith(b"\x89PNG") for f in figures)
    assert all(f"report_files/{f.name}" in md.read_text() for f in figures)


def test_json_dash_with_html_keeps_standard_output_for_the_json(tmp_path, capsys) -> None:
    page = tmp_path / "r.html"
    code, out, err = run(capsys, *FAST, "--optimizers", "sgd", "--store", str(tmp_path / "s.sqlite"),
                         "--json", "-", "--html", str(page))
    assert code == 0, err
    assert json.loads(out)["runs"] and f"wrote {page}" in err and page.is_file()


@pytest.mark.parametrize("vectorize", ["--vectorize", "--no-vectorize"])
def test_progress_lines_name_runs_as_the_tables_do(tmp_path, capsys, vectorize) -> None:
    """The per-epoch lines (live, or printed when a vectorized group comes back) say sgd(lr=0.1), the label the
    tables and the store use, not the bare registry name sgd."""
    code, out, err = run(capsys, "--task", "digits-mlp", "--epochs", "1", "--optimizers", "sgd(lr=0.1),adam",
                         vectorize, "--store", str(tmp_path / "s.sqlite"))
    assert code == 0, err
    epoch_lines = [line for line in out.splitlines() if " epoch 1/1 " in line]
    assert sorted(line.split("  epoch")[0] for line in epoch_lines) == ["adam", "sgd(lr=0.1)"]
    assert "sgd(lr=0.1)" in out.split("Resolved hyperparameters")[1]  # the tables' name for the same run


def test_a_users_names_are_printed_as_written(tmp_path, capsys) -> None:
    """Names the user wrote are text, not rich markup or emoji codes: 'boom.py:Boom' followed by ': …' printed as
    'boom.py💥 …' (':Boom:' is an emoji code)."""
    (tmp_path / "boom.py").write_text("import torch\n\n\nclass Boom(torch.optim.SGD):\n    pass\n")
    name = f"{tmp_path / 'boom.py'}:Boom"
    code, out, err = run(capsys, "--task", "digits-mlp", "--epochs", "1", "--optimizers", name,
                         "--store", str(tmp_path / "s.sqlite"))
    assert code == 0, err
    assert f"  {name}: " in out and "\N{COLLISION SYMBOL}" not in out + err
    assert main(["runs", "last", "--store", str(tmp_path / "s.sqlite")]) == 0
    assert "\N{COLLISION SYMBOL}" not in "".join(capsys.readouterr())


def test_a_device_that_is_not_one_or_not_here_is_one_line(tmp_path, capsys) -> None:
    import torch

    code, _, err = run(capsys, *FAST, "--device", "banana", "--store", str(tmp_path / "a.sqlite"))
    assert code == 2 and err.count("\n") == 1 and "--device 'banana' is not a torch device" in err, err
    if not torch.cuda.is_available():
        code, _, err = run(capsys, *FAST, "--device", "cuda", "--store", str(tmp_path / "b.sqlite"))
        assert code == 2 and err.count("\n") == 1 and "CUDA is not available" in err, err


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("vectorize", ["--vectorize", "--no-vectorize"])
def test_on_cuda_compare_trains_there_and_learns_what_it_does_on_the_cpu(tmp_path, capsys, vectorize) -> None:
    results = {}
    for device in ("cuda", "cpu"):
        js = tmp_path / f"{device}.json"
        code, _, err = run(capsys, "--task", "digits-mlp", "--epochs", "3", "--quiet", "--optimizers", "sgd,adam",
                           "--device", device, vectorize, "--store", str(tmp_path / f"{device}.sqlite"),
                           "--json", str(js))
        assert code == 0, err
        runs = json.loads(js.read_text())["runs"]
        assert all(r["status"] == "completed" for r in runs)
        results[device] = {r["optimizer"]: r["summary"]["final"] for r in runs}
    with sqlite3.connect(tmp_path / "cuda.sqlite") as db:
        assert '"device":"cuda"' in db.execute("select spec_json from experiments").fetchone()[0].replace(" ", "")
    for name, final in results["cpu"].items():  # float32 on other kernels: the same learning, not the same bits
        assert results["cuda"][name]["val_loss"] == pytest.approx(final["val_loss"], rel=1e-3)
