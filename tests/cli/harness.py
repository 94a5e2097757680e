"""What the command-line tests share: running ``descentlab`` in this process and reading what it printed."""

from __future__ import annotations

import contextlib
import io

from descentlab.cli import main


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``descentlab ARGV`` in this process: its exit code and its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()
