"""Library messages go through logging (loggers under ``descentlab.``): an API user captures, routes or
silences them; the command line prints them on stderr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from descentlab.cli import logs
from descentlab.data.download import download_file


@pytest.fixture
def library_logger():
    """The ``descentlab`` logger as a fresh process has it, restored afterwards."""
    logger = logging.getLogger("descentlab")
    saved = logger.level, list(logger.handlers), logger.disabled
    logger.setLevel(logging.NOTSET)
    logger.handlers[:] = [h for h in logger.handlers if not isinstance(h, logs.StderrHandler)]
    yield logger
    logger.level, logger.handlers[:], logger.disabled = saved[0], saved[1], saved[2]


def _download(tmp_path: Path) -> Path:
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 100)
    return download_file([source.as_uri()], tmp_path / "out" / "file.bin", progress=False)


def test_caplog_captures_a_library_message(library_logger, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="descentlab"):
        assert _download(tmp_path).read_bytes() == b"x" * 100
    said = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    url = (tmp_path / "source.bin").as_uri()
    assert said == [("descentlab.data.download", "INFO", f"downloading file.bin from {url}")]


def test_silencing_the_descentlab_logger_silences_it(library_logger, tmp_path: Path, caplog, capsys) -> None:
    logs.install()  # even with the command line's handler on
    library_logger.setLevel(logging.CRITICAL + 1)
    with caplog.at_level(logging.INFO):  # the root logger listens to everything; nothing reaches it
        _download(tmp_path)
        logging.getLogger("descentlab.train.engine").warning("a warning")
    assert caplog.records == []
    assert capsys.readouterr().err == ""


def test_the_command_line_prints_library_messages_on_stderr(library_logger, tmp_path: Path, capsys) -> None:
    logs.install()
    logs.install()  # twice: still one handler, each message printed once
    _download(tmp_path)
    logging.getLogger("descentlab.train.engine").warning("the explicit engine fell back to %s", "autograd")
    logging.getLogger("descentlab.train.engine").debug("not shown")
    err = capsys.readouterr().err.splitlines()
    assert err == [f"downloading file.bin from {(tmp_path / 'source.bin').as_uri()}",
                   "descentlab: warning: the explicit engine fell back to autograd"]


def test_no_print_in_library_code() -> None:
    """Library (non-cli) modules say things through logging or return them, never print."""
    import ast

    package = Path(__file__).resolve().parents[2] / "src" / "descentlab"
    printing = []
    for path in package.rglob("*.py"):
        if "cli" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{path.relative_to(package)}:{node.lineno}")
    assert printing == []
