"""Every command and snippet of the README's "Bring your own" subsections on a user's network and data runs as
written (in a scratch folder holding a copy of examples/, with its own store)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from descentlab.cli import main
from descentlab.store import Store

ROOT = Path(__file__).resolve().parents[1]
SUBSECTIONS = ("Your network and data", "Your data from a file", "In a notebook")

pytestmark = pytest.mark.usefixtures("forget_user_tasks")


def blocks() -> list[tuple[str, str, str]]:
    """(subsection, language, code) of every fenced block of the subsections, in README order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    part = text.split("\n## Bring your own\n", 1)[1].split("\n## ", 1)[0]
    out = []
    for chunk in re.split(r"\n### ", part)[1:]:
        title, body = chunk.split("\n", 1)
        if title.strip() in SUBSECTIONS:
            out += [(title.strip(), lang, code) for lang, code in re.findall(r"```(\w+)\n(.*?)```", body, re.S)]
    return out


def test_the_subsections_are_there_and_hold_commands() -> None:
    found = blocks()
    assert {title for title, _, _ in found} == set(SUBSECTIONS)
    assert sum(code.count("descentlab ") for _, lang, code in found if lang == "bash") >= 7


def test_every_command_and_snippet_runs(tmp_path, monkeypatch, capsys) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "runs.sqlite"))
    ran = 0
    for title, lang, code in blocks():
        if lang == "python" and code.startswith("# in examples/my_task.py"):
            # a quotation of the example file: it must be the file's own text
            quoted = "\n".join(line for line in code.splitlines() if not line.startswith("#"))
            assert quoted.strip() in (ROOT / "examples" / "my_task.py").read_text(), title
        elif lang == "python":
            exec(compile(code, f"README {title}", "exec"), {"__name__": "__readme__"})  # noqa: S102
            ran += 1
        else:
            for line in code.strip().splitlines():
                argv = shlex.split(line, comments=True)
                assert argv[0] == "descentlab", line
                code_ = main(argv[1:])
                out = capsys.readouterr()
                assert code_ == 0, f"{line}: {out.err}"
                ran += 1
    assert ran >= 10
    assert (tmp_path / "report.html").is_file() and (tmp_path / "my_data.npz").is_file()
    with Store(tmp_path / "runs.sqlite") as store:
        experiments = store.experiments()
        tasks = {e.spec.get("task") for e in experiments}
        assert {"spirals", "sine", "wine", "my-data", "my-task"} <= tasks
        statuses = {r.status for e in experiments for r in store.runs(e.id)}
    assert statuses == {"completed"} or statuses == {"completed", "diverged"}  # sweeps may blow up at lr 1
