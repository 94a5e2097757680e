"""docs/learn.md, the Learn page: every command of the page runs as written (with the smaller budget the page
states for CI), prints the lines the page shows, and writes the files it names, among them the pictures the page
shows; the page's pictures are committed, small and all used; the README links the page near its top.

The commands are parsed from the page itself by scripts/make_learn_docs.py (which regenerates the pictures with
the same parser), so the page and this test cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_learn_docs", ROOT / "scripts" / "make_learn_docs.py")
learn = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_learn_docs", learn)  # dataclasses look their module up there
_spec.loader.exec_module(learn)

STEPS = learn.page_steps()
OFFLINE_DATA = {"fashion-mlp": "fashion-mnist", "mnist-mlp": "mnist"}  # tasks whose data may be absent offline


def _id(step) -> str:
    argv = step.argv
    return "-".join([argv[0], *(argv[argv.index(f) + 1] for f in ("--function", "--task") if f in argv)])


def test_the_page_walks_the_seven_lessons_in_order_and_the_readme_leads_to_it() -> None:
    text = learn.PAGE.read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 8))
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert any("(docs/learn.md)" in line for line in readme[:15]), "the README links the Learn page near its top"
    assert len(STEPS) >= 9 and all(step.command.startswith("descentlab ") for step in STEPS)
    training = [s for s in STEPS if s.argv[0] == "compare"]
    assert training and all(s.ci for s in training), "every training command states its CI budget"


def test_the_pictures_are_committed_small_and_all_used() -> None:
    named = [name for step in STEPS for _, name in step.pictures]
    assert len(named) == len(set(named)) >= 8
    committed = sorted(p.name for p in learn.PICTURES.iterdir())
    assert committed == sorted(named), "every picture in docs/learn/ is on the page, and every one is committed"
    for name in named:
        with Image.open(learn.PICTURES / name) as image:
            assert image.format == "PNG" and image.width >= 600
    total = sum((learn.PICTURES / n).stat().st_size for n in named)
    assert total < 900_000, f"docs/learn/ holds {total} bytes of pictures"


def test_ci_flags_replace_the_commands_values_or_are_added() -> None:
    step = learn.Step("descentlab compare --task digits-mlp --epochs 10 --md a.md", ci=["--epochs 1 --seeds 1"])
    assert step.ci_argv == ["compare", "--task", "digits-mlp", "--epochs", "1", "--md", "a.md", "--seeds", "1"]
    assert learn.written(step.ci_argv) == [Path("a.md")]
    page = "```bash\ndescentlab trace --png a.png\n```\n\n```text\nStart: x = 3\n```\n\n![T](learn/a.png)\n" \
           "```bash\ndescentlab compare --md r.md\n```\nIn CI this runs with `--epochs 1`.\n![Fig](learn/b.png)\n"
    first, second = learn.steps(page)
    assert (first.shown, first.pictures, first.ci) == (["Start: x = 3"], [("T", "a.png")], [])
    assert (second.ci, second.pictures) == (["--epochs 1"], [("Fig", "b.png")])
    with pytest.raises(ValueError, match="must start with 'descentlab '"):
        learn.steps("```bash\npython -m descentlab list\n```\n")


@pytest.mark.parametrize("step", STEPS, ids=[_id(s) for s in STEPS])
def test_every_command_of_the_page_runs_and_writes_what_it_says(step, tmp_path, monkeypatch) -> None:
    argv = step.ci_argv
    task = argv[argv.index("--task") + 1] if "--task" in argv else None
    if task in OFFLINE_DATA:  # never download in a test: the lesson runs where the data is installed
        from descentlab.data.sources import DataNotFoundError, load_idx_dataset

        try:
            load_idx_dataset(OFFLINE_DATA[task], download=False)
        except DataNotFoundError:
            pytest.skip(f"{OFFLINE_DATA[task]} is not installed here (apt-get install dataset-fashion-mnist)")
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "runs.sqlite"))
    code, out = learn.run(argv, tmp_path)
    assert code == 0, f"descentlab {shlex.join(argv)} exited with {code}:\n{out[-2000:]}"
    assert not learn.missing_lines(step, out), f"the page shows lines the command did not print:\n{out[:3000]}"
    files = learn.written(argv)
    assert files, f"every command of the page writes what it shows: {step.command}"
    for path in files:
        assert re.search(rf"^wrote {re.escape(str(tmp_path / path))}|^wrote {re.escape(str(path))}", out, re.M), out
        data = (tmp_path / path).read_bytes()
        if path.suffix == ".png":
            with Image.open(tmp_path / path) as image:
                assert image.format == "PNG" and image.width >= 400
        elif path.suffix == ".html":
            assert data.lstrip().lower().startswith(b"<!doctype html>") and b"</html>" in data
        elif path.suffix == ".md":
            figures = learn.report_figures(tmp_path / path)
            assert figures and all(f.read_bytes().startswith(b"\x89PNG") for f in figures.values())
    for title, name in step.pictures:  # the picture the page shows is one this command makes
        with Image.open(learn.picture_source(argv, title, name, tmp_path)) as image:
            assert image.format == "PNG"
    if argv[0] == "compare":
        assert "Stored as experiment 1" in out and "Best on validation" in out
    if "--lr" in argv and argv[0] == "trace" and "1.05" in argv[argv.index("--lr") + 1]:
        assert re.search(r"1\.05 .*diverged at step", out), "the divergent rate is reported as diverged"


def test_lesson_4s_rastrigin_claims_hold() -> None:
    """Lesson 4 on Rastrigin at lr 0.005, 300 steps: plain gradient descent settles in the hollow below the start;
    momentum ends lower; Nesterov never settles (the page said it "brakes sooner and stays near the start", but a
    hollow's bottom, curvature 2 + 40π² ≈ 397, puts lr · h ≈ 1.98 above Nesterov's stability limit
    2 (1 + μ) / (1 + 2μ) ≈ 1.36: it keeps bouncing across the hollow near the start)."""
    import numpy as np

    from descentlab.experiments import trace
    from descentlab.tasks.functions import get_function

    f = get_function("rastrigin")
    sgd, momentum, nesterov = trace.trace(f, ["sgd", "momentum", "nesterov"], steps=300, lr=0.005)
    assert np.abs(np.diff(sgd.positions[-10:], axis=0)).max() < 0.05  # settled
    assert momentum.values[-1] < sgd.values[-1]
    last_steps = np.abs(np.diff(nesterov.positions[-10:], axis=0)).min(axis=1)
    assert last_steps.min() > 0.2  # still jumping ~0.4 each step after 300 steps
    assert np.linalg.norm(nesterov.positions[-1] - nesterov.positions[0]) < 1.0  # near the start
    assert nesterov.values[-1] > sgd.values[-1]
    page = (ROOT / "docs" / "learn.md").read_text()
    assert "brakes sooner and stays near the start" not in page
    assert "never settles" in page
