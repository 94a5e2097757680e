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
