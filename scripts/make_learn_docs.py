"""Regenerate the pictures of docs/learn.md by running the page's own commands.

The page is the source: every ```bash block of docs/learn.md holds commands (``descentlab …``), and what follows a
block, up to the next one, belongs to it:

- a ```text block: lines the command prints (an excerpt, each line as printed);
- a sentence "In CI this runs with `FLAGS`.": the smaller budget tests/docs/test_learn_page.py runs it with
  (each flag replaces the command's own value, or is added);
- pictures ``![TITLE](learn/NAME.png)``: the file NAME.png the command writes (``trace --png``), or, for a command
  that writes a Markdown report (``--md``), the report's figure titled TITLE.

This script runs every command at its full budget in a scratch folder (with its own results store) and copies
each picture to docs/learn/, as an 8-bit palette PNG to keep the repository small. The test parses the page with
the same functions, so the page, its pictures and its test cannot drift apart.

    python scripts/make_learn_docs.py          # about 5 minutes on 2 cores (the MNIST lesson is most of it)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "learn.md"
PICTURES = ROOT / "docs" / "learn"
WRITES = ("--png", "--gif", "--html", "--md", "--json")  # the flags that name a file a command writes

_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)
_CI = re.compile(r"[Ii]n CI this runs with `([^`]+)`")
_PICTURE = re.compile(r"!\[([^\]]+)\]\(learn/([^)\s]+)\)")


@dataclass
class Step:
    """One command of the page and what the page says about it."""

    command: str
    ci: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    pictures: list[tuple[str, str]] = field(default_factory=list)  # (title, file name under docs/learn/)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)[1:]

    @property
    def ci_argv(self) -> list[str]:
        """The command with the page's CI flags: a flag it has gets the CI value, another is appended."""
        argv, extra = list(self.argv), shlex.split(" ".join(self.ci))
        i = 0
        while i < len(extra):
            flag = extra[i]
            value = extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("--") else None
            i += 2 if value is not None else 1
            if flag in argv and value is not None:
                argv[argv.index(flag) + 1] = value
            elif flag not in argv:
                argv += [flag] + ([value] if value is not None else [])
        return argv


def steps(text: str) -> list[Step]:
    """Every command of the page, in order, with its shown output, CI flags and pictures."""
    out: list[Step] = []
    matches = list(_BLOCK.finditer(text))
    for k, m in enumerate(matches):
        lang, body = m.group(1), m.group(2)
        if lang == "bash":
            lines = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
            for line in lines:
                if not line.startswith("descentlab "):
                    raise ValueError(f"docs/learn.md: a command must start with 'descentlab ': {line!r}")
            out += [Step(line) for line in lines]
        elif lang == "text" and out:
            out[-1].shown += [line.rstrip() for line in body.splitlines() if line.strip()]
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        if out:  # the prose after a command's block, or after its output's, up to the next block
            prose = text[m.end():end]
            out[-1].ci += _CI.findall(prose)
            out[-1].pictures += _PICTURE.findall(prose)
    return out


def missing_lines(step: Step, out: str) -> list[str]:
    """The lines the page shows for ``step`` that its output ``out`` does not hold (surrounding spaces aside)."""
    printed = {line.strip() for line in out.splitlines()}
    return [line for line in step.shown if line.strip() not in printed]


def page_steps() -> list[Step]:
    return steps(PAGE.read_text(encoding="utf-8"))


def written(argv: list[str]) -> list[Path]:
    """The files a command says it writes (relative to where it runs), ``--json -`` excepted."""
    return [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a in WRITES and argv[i + 1] != "-"]


def report_figures(md: Path) -> dict[str, Path]:
    """Title → PNG of every figure of a Markdown report written by ``--md``."""
    text = md.read_text(encoding="utf-8")
    return {title: md.parent / src for title, src in re.findall(r"!\[([^\]]+)\]\(([^)\s]+\.png)\)", text)}


def picture_source(argv: list[str], title: str, name: str, where: Path) -> Path:
    """The file the command wrote for the page's picture ``![title](learn/name)``."""
    files = [where / p for p in written(argv)]
    same = [f for f in files if f.name == name]
    if same:
        return same[0]
    for md in (f for f in files if f.suffix == ".md"):
        figures = report_figures(md)
        if title in figures:
            return figures[title]
        raise LookupError(f"{md.name} has no figure titled {title!r}; it has {sorted(figures)}")
    raise LookupError(f"`descentlab {shlex.join(argv)}` writes no {name} and no report with a figure {title!r}")


def run(argv: list[str], where: Path) -> tuple[int, str]:
    """Run ``descentlab argv`` in-process in folder ``where``; (exit code, standard output)."""
    from descentlab.cli import main

    old = Path.cwd()
    buffer = io.StringIO()
    try:
        os.chdir(where)
        with contextlib.redirect_stdout(buffer):
            code = main(argv)
    finally:
        os.chdir(old)
    return code, buffer.getvalue()


def save_small(source: Path, dest: Path) -> None:
    """``source`` as an 8-bit palette PNG (a quarter of the size; the figures have few colours)."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def main() -> int:
    PICTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        os.environ["DESCENTLAB_STORE"] = str(where / "runs.sqlite")
        for step in page_steps():
            print(f"$ {step.command}", file=sys.stderr, flush=True)
            code, out = run(step.argv, where)
            if code != 0:
                print(f"failed with exit code {code}", file=sys.stderr)
                return 1
            missing = missing_lines(step, out)
            if missing:
                print(f"the page shows lines this command did not print: {missing}", file=sys.stderr)
                return 1
            for title, name in step.pictures:
                save_small(picture_source(step.argv, title, name, where), PICTURES / name)
                print(f"  wrote docs/learn/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
