"""``descentlab report`` and ``descentlab runs`` end to end on the synthetic store."""

from __future__ import annotations

import csv
import re

import pytest

from descentlab.cli import main
from tests.report import synthetic


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return synthetic.build_store(tmp_path_factory.mktemp("cli") / "runs.sqlite")


def test_report_last_writes_html_and_markdown(store_path, tmp_path, capsys):
    out, md = tmp_path / "report.html", tmp_path / "report.md"
    assert main(["report", "last", "--html", str(out), "--md", str(md), "--store", str(store_path)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "descentlab compare #3 — batch sizes" in text
    assert "Batch vs stochastic vs mini-batch gradient descent" in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 4
    assert len(list((tmp_path / "report_files").glob("figure-*.png"))) == 4
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["report", "9", "--html", "{tmp}/r.html"], "no experiment 9 in"),
    (["report", "last", "--html", "{tmp}/missing/r.html"], "does not exist"),
    (["report", "last"], "--html FILE"),
    (["runs", "--experiment", "nope"], "experiment must be an id or 'last'"),
])
def test_bad_input_is_one_line_and_exit_2(store_path, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--store", str(store_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_missing_store_is_a_user_error_and_not_created(tmp_path, capsys):
    """`report` of a store that does not exist, or `runs` of one experiment in it, is an error (`runs` alone says
    there are no experiments yet: tests/cli/test_compare_cli.py)."""
    path = tmp_path / "none.sqlite"
    assert main(["report", "--store", str(path), "--html", str(tmp_path / "r.html")]) == 2
    assert "no results store" in capsys.readouterr().err and not path.exists()
    assert main(["runs", "--experiment", "1", "--store", str(path)]) == 2
    assert "no results store" in capsys.readouterr().err and not path.exists()


def test_runs_lists_experiments_and_runs_and_exports_csv(store_path, tmp_path, capsys):
    assert main(["runs", "--store", str(store_path)]) == 0
    out = capsys.readouterr().out
    assert all(word in out for word in ("compare", "sweep", "mnist1d-mlp", "11 completed, 1 diverged"))

    target = tmp_path / "runs.csv"
    assert main(["runs", "--store", str(store_path), "--experiment", "1", "--csv", str(target)]) == 0
    out = capsys.readouterr().out
    assert "diverged at step 530" in out and "92.00%" in out
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["experiment_id"] for r in rows} == {"1"} and len({r["run_id"] for r in rows}) == 12


def test_runs_json_is_what_the_tables_show_and_dash_keeps_stdout_for_it(store_path, tmp_path, capsys):
    import json

    assert main(["runs", "--store", str(store_path), "--json", "-"]) == 0
    captured = capsys.readouterr()
    listing = json.loads(captured.out)  # standard output holds the JSON alone; the table went to stderr
    assert "Experiments in" in captured.err
    assert listing["store"] == str(store_path)
    first = listing["experiments"][0]
    assert (first["id"], first["kind"], first["tasks"], first["runs"]) == (1, "compare", ["mnist1d-mlp"], 12)
    assert first["statuses"] == {"completed": 11, "diverged": 1}

    target = tmp_path / "runs.json"
    assert main(["runs", "1", "--store", str(store_path), "--json", str(target)]) == 0
    out = capsys.readouterr().out
    runs = json.loads(target.read_text())
    assert runs["experiment"]["id"] == 1 and len(runs["runs"]) == 12 and f"wrote {target}" in out
    diverged = [r for r in runs["runs"] if r["status"] == "diverged"]
    assert [r["diverged_step"] for r in diverged] == [530] and "diverged at step 530" in out
    assert 0.92 in [r["final_val_acc"] for r in runs["runs"]] and "92.00%" in out
    assert set(runs["runs"][0]) == {"run_id", "optimizer", "batch_size", "lr", "seed", "status", "diverged_step",
                                    "final_val_acc", "final_test_acc", "final_val_loss", "final_test_loss",
                                    "train_seconds", "interrupted", "last_seen"}


def test_runs_json_of_a_store_that_does_not_exist_is_an_empty_list(tmp_path, capsys):
    import json

    assert main(["runs", "--store", str(tmp_path / "none.sqlite"), "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"store": str(tmp_path / "none.sqlite"), "experiments": []}
    assert "no experiments yet" in captured.err and not (tmp_path / "none.sqlite").exists()


def test_runs_refuses_a_json_path_it_cannot_write_before_reading(store_path, tmp_path, capsys):
    assert main(["runs", "--store", str(store_path), "--json", str(tmp_path / "missing" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("descentlab runs: error: --json") and "does not exist" in err


def test_runs_of_a_regression_show_its_losses(tmp_path, capsys):
    """A task whose metric is the loss (mse) has no accuracies: `runs` shows and writes its final validation and
    test losses (its table was all dashes)."""
    import json
    from pathlib import Path

    from descentlab.tasks.external import forget

    task = str(Path(__file__).resolve().parents[2] / "examples" / "my_task.py") + ":regression"
    store = str(tmp_path / "r.sqlite")
    try:
        assert main(["compare", "--task", task, "--optimizers", "sgd", "--epochs", "1", "-q", "--store", store]) == 0
    finally:
        forget()
    capsys.readouterr()
    assert main(["runs", "last", "--store", store, "--json", "-"]) == 0
    captured = capsys.readouterr()
    (run,) = json.loads(captured.out)["runs"]
    assert run["final_val_acc"] is None and run["final_val_loss"] > 0 and run["final_test_loss"] > 0
    assert "final val loss" in captured.err and "final val acc" not in captured.err
    assert f"{run['final_val_loss']:.4g}" in captured.err and f"{run['final_test_loss']:.4g}" in captured.err


def test_the_report_of_a_sweep_whose_every_run_diverged(tmp_path, capsys):
    """Every point of the sweep diverged: its sensitivity figure marks them × on a log axis spanning the swept rates
    (matplotlib raised 'Data cannot be log-scaled' on an axis that held no point in data coordinates)."""
    store = str(tmp_path / "d.sqlite")
    assert main(["sweep", "--task", "digits-mlp", "--optimizers", "sgd", "--lr", "1e5..1e6", "--points", "2",
                 "--epochs", "1", "-q", "--store", store]) == 0
    capsys.readouterr()
    page = tmp_path / "d.html"
    assert main(["report", "last", "--store", store, "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "Learning-rate sensitivity" in text and text.count('<img src="data:image/png;base64,') >= 1


def test_a_report_cut_short_by_a_full_disk_leaves_the_old_one_whole(store_path, tmp_path, capsys):
    """A file-size limit (as a full disk) while writing: one line, exit 2, and the report written before is
    still there whole (it used to be replaced by the first bytes of the new one)."""
    import resource

    out = tmp_path / "report.html"
    assert main(["report", "last", "--html", str(out), "--store", str(store_path)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, hard))  # Python ignores SIGXFSZ: write fails
    try:
        code = main(["report", "last", "--html", str(out), "--store", str(store_path)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"cannot write {out}" in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no .part left behind


def test_a_spec_file_cut_short_leaves_the_old_one_whole(tmp_path, monkeypatch, capsys):
    """``report --toml`` wrote the file in place: a Ctrl-C in the middle of writing left a truncated TOML."""
    from pathlib import Path

    from tests.cli.test_faults import COMPARE

    store = tmp_path / "runs.sqlite"
    assert main([*COMPARE, "--seeds", "1", "--epochs", "1", "--store", str(store)]) == 0
    out = tmp_path / "spec.toml"
    assert main(["report", "last", "--toml", str(out), "--store", str(store)]) == 0
    before = out.read_bytes()

    def interrupted(self, data, *args, **kwargs):  # half of it written, then Ctrl-C
        with open(self, "wb") as f:
            f.write((data if isinstance(data, bytes) else data.encode())[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", interrupted)
    monkeypatch.setattr(Path, "write_text", interrupted)
    assert main(["report", "last", "--toml", str(out), "--store", str(store)]) == 130
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("runs.sqlite")) == ["spec.toml"]
