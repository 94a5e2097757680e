"""Every command of the README's "Bring your own" section runs as written (with a temporary store) and stores
what it says."""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path

import pytest

from descentlab.cli import main
from tests.test_readme_byo import SUBSECTIONS as BYO_SUBSECTIONS

ROOT = Path(__file__).resolve().parents[1]


def section_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own"):]
    section = section[:section.index("\n## ", 3)]
    # the subsections on a user's network and data build on each other (a file the previous snippet wrote, the
    # last experiment): tests/test_readme_byo.py runs them in order, in a scratch folder
    parts = re.split(r"\n### ", section)
    section = "\n".join(p for p in parts if p.split("\n", 1)[0].strip() not in BYO_SUBSECTIONS)
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()
            if line.strip().startswith("descentlab ")]


def test_the_section_has_commands():
    assert len(section_commands()) >= 2


@pytest.mark.parametrize("command", section_commands())
def test_readme_command_runs(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the commands name files under examples/ relative to the repository
    store = tmp_path / "runs.sqlite"
    args = shlex.split(command)[1:]
    assert main([*args, "--store", str(store)]) == 0, capsys.readouterr().err
    with sqlite3.connect(store) as conn:
        statuses = [s for (s,) in conn.execute("SELECT status FROM runs")]
    assert statuses and all(s in ("completed", "diverged") for s in statuses)
