"""The report of a benchmark, from a synthetic store whose selections, times to target and scores are worked out
by hand below; the HTML rendered in headless Chromium like the other reports."""

from __future__ import annotations

import math
import os

import pytest

from descentlab.cli import main
from descentlab.report import html
from descentlab.report.benchmark import analyse, build_benchmark_report, mean_rank
from descentlab.report.data import load
from descentlab.store import Store
from tests.report import synthetic as syn
from tests.report.test_html import CHROMIUM, decoded_images

TASKS = ("digits-mlp", "mnist1d-mlp")
SEARCH = {"sgd": [{"lr": 0.001}, {"lr": 0.1}],
          "adam": [{"lr": 0.001, "beta1": 0.9, "beta2": 0.999}, {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}]}
# (task, optimizer) -> validation number of each tuning trial (None: diverged)
TUNING = {("digits-mlp", "sgd"): [0.5, 0.8], ("digits-mlp", "adam"): [0.85, 0.7],
          ("mnist1d-mlp", "sgd"): [0.6, None], ("mnist1d-mlp", "adam"): [0.7, 0.9]}
# (task, optimizer, point) -> per evaluation seed 1, 2: (test acc, updates to target or None)
EVALS = {("digits-mlp", "sgd", 0): [(0.50, None), (0.52, None)],
         ("digits-mlp", "sgd", 1): [(0.80, 400), (0.82, 600)],   # median 500
         ("digits-mlp", "adam", 0): [(0.86, 100), (0.88, 300)],  # median 200
         ("mnist1d-mlp", "sgd", 0): [(0.60, None), (0.62, None)],
         ("mnist1d-mlp", "adam", 0): [(0.70, None), (0.72, 800)],  # median inf: half the seeds never reached
         ("mnist1d-mlp", "adam", 1): [(0.90, 100), (0.92, 100)]}


def _hyper(point: dict) -> dict:
    hyper = {"lr": point["lr"]}
    if "beta1" in point:
        hyper["betas"] = [point["beta1"], point["beta2"]]
    return hyper


def _record(store: Store, eid: int, task: str, opt: str, point: int, seed: int, val: float | None,
            test: float | None, steps: int | None) -> None:
    config = {"task": task, "optimizer": opt, "hyperparameters": _hyper(SEARCH[opt][point]), "seed": seed,
              "epochs": 2, "batch_size": 32}
    status = "completed" if val is not None else "diverged"
    epoch = {"train_loss": 0.5, "val_acc": val, "test_acc": test, "elapsed": 1.0, "steps": 1000}
    reached = {"epoch": 1, "steps": steps, "seconds": steps / 100} if steps is not None else None
    store.record_run(eid, f"{task}/{opt}/{point}/{seed}", task=task, optimizer=opt, seed=seed, config=config,
                     epochs=[epoch] if val is not None else [], status=status,
                     summary={"final": {"val_acc": val, "test_acc": test}, "time_to_target": reached},
                     diverged_step=None if val is not None else 5)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("benchmark-report") / "runs.sqlite"
    spec = {"tasks": list(TASKS), "optimizers": ["sgd", "adam"], "budgets": [1, 2], "seeds": 2, "epochs": 2,
            "preset": "torch", "search_seed": 0, "tuning_seed": 0, "evaluation_seeds": [1, 2], "r_max": 4.0,
            "names": {"sgd": "sgd", "adam": "adam"}, "search": SEARCH,
            "space": {"sgd": ["lr log-uniform on [0.0001, 1]"],
                      "adam": ["lr log-uniform on [0.0001, 1]", "beta1: …", "beta2: …"]},
            "task_info": {t: {"metric": "accuracy", "target": 0.9, "epochs": 2, "batch_size": 32} for t in TASKS}}
    with Store(path) as store:
        eid = store.create_experiment("benchmark", spec, syn.ENV)
        for (task, opt), values in TUNING.items():
            for point, val in enumerate(values):
                _record(store, eid, task, opt, point, 0, val, val and val - 0.01, None)
        for (task, opt, point), seeds in EVALS.items():
            for seed, (test, steps) in enumerate(seeds, 1):
                _record(store, eid, task, opt, point, seed, test + 0.01, test, steps)
    return path


@pytest.fixture(scope="module")
def bench(store_path):
    with Store(store_path) as store:
        return analyse(load(store, "last"))


def test_selections_times_and_scores_match_the_hand_computation(bench):
    assert {(c.task, c.optimizer, c.budget): c.index for c in bench.cells} == {
        ("digits-mlp", "sgd", 1): 0, ("digits-mlp", "sgd", 2): 1, ("digits-mlp", "adam", 1): 0,
        ("digits-mlp", "adam", 2): 0, ("mnist1d-mlp", "sgd", 1): 0, ("mnist1d-mlp", "sgd", 2): 0,
        ("mnist1d-mlp", "adam", 1): 0, ("mnist1d-mlp", "adam", 2): 1}
    assert bench.cell("digits-mlp", "sgd", 2).time == 500 and bench.cell("digits-mlp", "adam", 2).time == 200
    assert bench.cell("mnist1d-mlp", "adam", 1).time == math.inf
    # budget 1: digits adam 1, sgd inf; mnist1d nobody -> adam 3/3/2, sgd 0
    assert bench.scores(1) == pytest.approx({"sgd": 0.0, "adam": 0.5})
    # budget 2: digits sgd 500/200 = 2.5, adam 1; mnist1d adam 1, sgd inf -> sgd 1.5/3/2, adam (3 + 3)/3/2
    assert bench.scores(2) == pytest.approx({"sgd": 0.25, "adam": 1.0})
    assert bench.cell("digits-mlp", "adam", 2).test.mean == pytest.approx(0.87)
    assert mean_rank(bench, 2) == {"sgd": 2.0, "adam": 1.0}


def test_no_winner_where_seeds_cannot_tell(bench):
    # digits, budget 2: adam 0.86, 0.88 vs sgd 0.80, 0.82: Welch 95% interval 0.06 ± 0.061 contains 0
    assert bench.leaders("digits-mlp", 2) == ["adam", "sgd"]
    assert bench.leaders("mnist1d-mlp", 2) == ["adam"]


def test_report_has_the_tables_figures_and_protocol(store_path, tmp_path):
    with Store(store_path) as store:
        report = build_benchmark_report(load(store, "last"))
    titles = [t.title for t in report.tables]
    assert titles[0].startswith("Performance-profile score by tuning budget")
    assert {"Confidence statements (test metric)", "Per task at budget 1", "Per task at budget 2",
            "Pairwise differences of the test metric", "Search spaces and budgets", "Environment"} <= set(titles)
    assert [f.title for f in report.figures] == ["Performance profiles", "Standing against the tuning budget"]
    verdicts = dict(((b, t), v) for b, t, v in report.tables[1].rows)
    assert verdicts[("2", "digits-mlp")] == "cannot tell apart: adam, sgd (best mean: adam)"
    assert verdicts[("2", "mnist1d-mlp")] == "adam is best, distinguishable from every other optimizer"
    page = tmp_path / "report.html"
    code = main(["report", "--store", str(store_path), "--html", str(page), "--md", str(tmp_path / "r.md")])
    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert "AlgoPerf" in text and "Student&#x27;s t at 95 %" in text and "0.250 (#2)" in text
    assert (tmp_path / "r_files" / "figure-2.png").is_file()


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="no /usr/bin/chromium (Debian: apt-get install chromium)")
def test_benchmark_report_renders_in_headless_chromium(store_path, tmp_path):
    with Store(store_path) as store:
        report = build_benchmark_report(load(store, "last"))
    decoded, dom = decoded_images(html.write_html(report, tmp_path / "report.html"), tmp_path)
    assert decoded == 2
    assert "Confidence statements" in dom and "cannot tell apart: adam, sgd" in dom
