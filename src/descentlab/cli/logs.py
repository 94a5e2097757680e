"""The command line's view of the library's log: what the library says through the ``descentlab`` loggers
(an engine that falls back, a dataset being downloaded or generated) is printed on standard error, a warning as
``descentlab: warning: …``, information as its bare line. Users of the Python API route or silence the same
messages with :mod:`logging` (``logging.getLogger("descentlab")``)."""

from __future__ import annotations

import logging
import sys


class StderrHandler(logging.Handler):
    """Prints each record on the ``sys.stderr`` of the moment (so a redirected or captured stderr gets it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                message = f"descentlab: {record.levelname.lower()}: {message}"
            print(message, file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging's contract: a failing handler never breaks the caller
            self.handleError(record)


def install() -> None:
    """Show the library's INFO and higher messages on stderr (once: calling it again changes nothing)."""
    logger = logging.getLogger("descentlab")
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        logger.addHandler(StderrHandler())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
