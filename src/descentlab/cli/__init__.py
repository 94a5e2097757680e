"""``descentlab`` command line: one small module per command, declared in :data:`COMMANDS`.

A command is one :class:`Command` line in :data:`COMMANDS` (its name, its one-line help and its module) and its
module, which defines ``add_arguments(parser)`` and ``run(args) -> int``. The table is declared, not discovered,
so that ``descentlab --help`` imports no command module and ``descentlab NAME ...`` imports only NAME's; a command
module keeps its heavy imports (torch, numpy, matplotlib) inside ``run`` so that its ``--help`` and its argument
errors answer at once. Bad input of any kind is a :class:`~descentlab.errors.UserError`: it is printed as one line
and the exit code is 2; whatever was already computed has been stored by then.
"""

from __future__ import annotations

import os

# torch's OpenMP (libgomp on Linux) lets a waiting thread spin 300 000 times before it sleeps. When the machine
# has other work, that spinning made a small MLP's step 20-30x slower (94 ms vs 4.6 ms); sleeping at once
# (OMP_WAIT_POLICY=PASSIVE) cures that but costs ~40 % on a quiet machine, waking threads for every small
# product. A short spin keeps both: as fast as the default when quiet, as PASSIVE under contention
# (BENCHMARKS.md). Only when the user chose neither; it must be set before torch starts.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from descentlab.errors import UserError  # noqa: E402


@dataclass(frozen=True)
class Command:
    """A command: its ``name`` on the command line, its one-line ``help`` and the ``module`` that defines
    ``add_arguments(parser)`` and ``run(args)`` (imported only when the command is used)."""

    name: str
    help: str
    module: str


COMMANDS: tuple[Command, ...] = (
    Command("compare", "Train optimizers side by side on one task (default: MLP on MNIST-1D, sgd vs adam vs "
            "rmsprop, offline).", "descentlab.cli.compare"),
    Command("sweep", "Sweep each optimizer over a log-spaced learning-rate range (× seeds × listed "
            "hyperparameters).", "descentlab.cli.sweep"),
    Command("lr-find", "LR range test (Smith 2017): raise the lr exponentially, batch by batch, over seeds; suggest "
            "a range.", "descentlab.cli.lr_find"),
    Command("trace", "Paths of optimizers on a test function (Rosenbrock, Beale, …): table, contour plot, GIF.",
            "descentlab.cli.trace"),
    Command("benchmark", "Tune every optimizer with the same budget of trials on every task, re-run the selection "
            "over seeds, and score time to target with performance profiles.", "descentlab.cli.benchmark"),
    Command("report", "Write the report of an experiment: one self-contained HTML file and/or Markdown with PNGs.",
            "descentlab.cli.report"),
    Command("runs", "List the experiments in the results store, or the runs of one; export them to CSV or JSON.",
            "descentlab.cli.runs"),
    Command("export", "Export a stored experiment: TensorBoard event files, CSV or Parquet (one row per run and "
            "epoch).", "descentlab.cli.export"),
    Command("list", "List optimizers, tasks, datasets, presets, schedules, 2-D test functions and experiment kinds.",
            "descentlab.cli.list"),
    Command("completion", "Print a shell completion script for bash, zsh or fish.", "descentlab.cli.completion"),
)
"""Every command, in the order ``--help`` lists them. A new command is one line here and its module."""
# The workbench's dependencies: the `lab` extra (pyproject.toml). `pip install descentlab` alone is the library.
LAB_MODULES = frozenset({"rich", "matplotlib", "PIL", "mnist1d", "sklearn", "scipy", "platformdirs", "tomli_w"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command (``only`` None), or of the one named ``only`` with the others listed by name and
    help alone (``only=""``: none), which imports only that command's module."""
    from descentlab import __version__

    parser = _Parser(prog="descentlab", description="Understand, choose and tune neural-network optimizers.",
                     epilog="Run 'descentlab COMMAND --help' for a command's flags and examples.")
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        if only is not None and command.name != only:
            sub.add_parser(command.name, help=command.help)
            continue
        module = importlib.import_module(command.module)
        p = sub.add_parser(command.name, help=command.help, description=textwrap.fill(command.help, 100),
                           epilog=getattr(module, "EXAMPLES", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # the examples keep their lines
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _command_of(argv: Sequence[str]) -> str:
    """The command ``argv`` names (its first word, the only place one can be), else ``""``."""
    names = {c.name for c in COMMANDS}
    return argv[0] if argv and argv[0] in names else ""


def _missing_lab(exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` is a workbench dependency that is not installed; if so, say how to install it."""
    if (exc.name or "").split(".")[0] not in LAB_MODULES:
        return False
    print(f"descentlab: error: the workbench needs {exc.name!r}, which is not installed: "
          "pip install 'descentlab[lab]'", file=sys.stderr)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the program's arguments) and return its exit status: 0, 2 for bad input
    (one line), 130 after Ctrl-C and 143 after SIGTERM, wherever they arrive.

    Called as the program (``argv`` None: the ``descentlab`` script, ``python -m descentlab``), it ignores Ctrl-C
    once the command is over: what is left is the interpreter's shutdown (a second or so with torch loaded), and a
    Ctrl-C there used to kill the process by the signal after everything was done and said — exit status -2 to
    Python, no message — instead of the status the command returned."""
    program, ctrl_c = argv is None, _Raising(signal.SIGINT, only_over=signal.default_int_handler)
    try:
        with ctrl_c:
            return _main(argv)
    except BaseException:
        # One the command did not catch (while its flags were parsed, a second Ctrl-C while the first was handled),
        # or what a Ctrl-C became: one that lands inside a library's import (numpy's, under torch's) can be lost
        # there, leaving the library half imported, and what escapes is then an ImportError or a RecursionError.
        if not ctrl_c.received:
            raise
        print("descentlab: interrupted", file=sys.stderr)
        return 130
    finally:
        if program:
            with contextlib.suppress(ValueError):  # (not the main thread: nothing to do)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # SIG_IGN outlasts Python's own handlers at exit


def _main(argv: Sequence[str] | None) -> int:
    argv = [*(sys.argv[1:] if argv is None else argv)]  # (not list(): the `list` command module shadows it here)
    try:
        parser = build_parser(only=_command_of(argv))
    except ModuleNotFoundError as exc:
        if _missing_lab(exc):
            return 2
        raise
    except KeyboardInterrupt:  # Ctrl-C while the command's modules load: nothing started, nothing to keep
        print("descentlab: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):  # plain `descentlab`: the help, as asked for
        parser.print_help()
        return 0
    importlib.import_module("descentlab.cli.logs").install()  # the library's messages (logging) on stderr
    terminated = _Raising(signal.SIGTERM)
    try:
        with terminated:
            return int(args._run(args) or 0)
    except UserError as exc:
        return _error(args, str(exc))
    except ModuleNotFoundError as exc:
        if _missing_lab(exc):
            return 2
        raise
    except sqlite3.Error as exc:  # a store damaged past its first page is only found when that page is read
        from descentlab.store import default_store_path
        from descentlab.store.schema import database_error

        return _error(args, str(database_error(getattr(args, "store", None) or default_store_path(), exc)))
    except OSError as exc:  # a file or folder the commands' own checks could not foresee (full disk, races)
        where = f" ({exc.filename})" if exc.filename else ""
        return _error(args, f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        how = "terminated (SIGTERM)" if terminated.received else "interrupted"
        print(f"descentlab {args.command}: {how}; finished runs are kept in the store", file=sys.stderr)
        return 128 + signal.SIGTERM if terminated.received else 130


class _Raising:
    """While a command runs, ``signum`` raises KeyboardInterrupt, as Python's own Ctrl-C handler does, and is
    remembered (``received``) whatever becomes of that exception; the previous handler comes back after the
    command (in a thread other than the main one, where no handler can be set, nothing changes).

    SIGTERM (``kill``, a job scheduler, ``docker stop``) so stops a command as Ctrl-C does: the run being trained
    is stored failed (resume trains it again), this process's claims on trials are let go at once (another
    process, on any host, takes them over without waiting for the lease to run out), and one line says so;
    without it, SIGTERM killed the process on the spot, like SIGKILL. SIGINT is taken only ``only_over`` Python's
    default handler: one ignored (a background job of a script) or the caller's own stays as it is."""

    def __init__(self, signum: int, only_over: object = None) -> None:
        self.signum, self.only_over = signum, only_over
        self.received, self.installed = False, False
        self.previous: object = None

    def _handle(self, signum: int, frame: object) -> None:
        self.received = True
        raise KeyboardInterrupt

    def __enter__(self) -> _Raising:
        with contextlib.suppress(ValueError):  # not the main thread
            if self.only_over is None or signal.getsignal(self.signum) is self.only_over:
                self.previous = signal.signal(self.signum, self._handle)
                self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:  # (None: a handler set outside Python, which cannot be put back: the default then)
            signal.signal(self.signum, signal.SIG_DFL if self.previous is None else self.previous)


def _error(args: argparse.Namespace, message: str) -> int:
    """Print the error as ONE line (a message that spans lines is joined) and return exit code 2."""
    line = " ".join(message.split())
    print(f"descentlab {args.command}: error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
