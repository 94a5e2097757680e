"""``descentlab`` command line: one small module per command.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; a module of
this package that defines them is a command (the built-ins come first, in :data:`COMMANDS` order). Bad input of
any kind is a :class:`~descentlab.errors.UserError`: it is printed as one line and the exit code is 2; whatever
was already computed has been stored by then.
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
import importlib  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence

from descentlab.errors import UserError  # noqa: E402

COMMANDS = ("compare", "sweep", "lr_find", "trace", "report", "runs", "list")
# The workbench's dependencies: the `lab` extra (pyproject.toml). `pip install descentlab` alone is the library.
LAB_MODULES = frozenset({"rich", "matplotlib", "PIL", "mnist1d", "sklearn", "scipy", "platformdirs", "tomli_w"})


def _modules() -> list:
    import pkgutil

    names = [*COMMANDS, *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in COMMANDS)]
    found = []
    for name in names:
        try:
            module = importlib.import_module(f"descentlab.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not written yet must not break the others
            if exc.name != f"descentlab.cli.{name}":
                raise
            continue
        if all(hasattr(module, attr) for attr in ("NAME", "HELP", "add_arguments", "run")):
            found.append(module)
    return found


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from descentlab import __version__

    parser = _Parser(prog="descentlab", description="Understand, choose and tune neural-network optimizers.")
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _missing_lab(exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` is a workbench dependency that is not installed; if so, say how to install it."""
    if (exc.name or "").split(".")[0] not in LAB_MODULES:
        return False
    print(f"descentlab: error: the workbench needs {exc.name!r}, which is not installed: "
          "pip install 'descentlab[lab]'", file=sys.stderr)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ModuleNotFoundError as exc:
        if _missing_lab(exc):
            return 2
        raise
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):  # plain `descentlab`: the help, as asked for
        parser.print_help()
        return 0
    importlib.import_module("descentlab.cli.logs").install()  # the library's messages (logging) on stderr
    try:
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
        print(f"descentlab {args.command}: interrupted; finished runs are kept in the store", file=sys.stderr)
        return 130


def _error(args: argparse.Namespace, message: str) -> int:
    """Print the error as ONE line (a message that spans lines is joined) and return exit code 2."""
    line = " ".join(message.split())
    print(f"descentlab {args.command}: error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
