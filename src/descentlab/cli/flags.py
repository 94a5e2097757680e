"""The flags several commands share, each defined once so that it means the same in every command: its name,
destination, type, metavar, default and help (``tests/cli/test_flags.py`` walks every command's parser and checks
it). Torch-free: these run while ``--help`` is built."""

from __future__ import annotations

import argparse
from pathlib import Path

STORE_HELP = ("the SQLite results store (default: $DESCENTLAB_STORE, else runs.sqlite in the platform's data folder, "
              "see README)")


def add_store(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--store", type=Path, metavar="PATH", help=STORE_HELP)


def add_data_dir(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="where MNIST / Fashion-MNIST files are (default: searched for, else downloaded)")


def add_device(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--device", default="cpu", metavar="DEVICE",
                   help="torch device to train on: cpu, cuda, cuda:1, mps, … (default cpu)")


def add_preset(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    from descentlab.experiments.presets import PRESETS  # torch-free: the presets' declarations

    p.add_argument("--preset", default="torch", choices=tuple(PRESETS),
                   help="defaults to start from: initialization, batch size, hyperparameters (default torch; see "
                        "`descentlab list presets`)")


def add_seeds(p: argparse.ArgumentParser | argparse._ArgumentGroup, default: int) -> None:
    p.add_argument("--seeds", default=str(default), metavar="N",
                   help=f"seeds per configuration, each its own initialization and data order (default {default})")


def add_vectorize(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--vectorize", action=argparse.BooleanOptionalAction, default=True,
                   help="train runs that share an architecture together, stacked, with the vectorized trainer "
                        "(default; --no-vectorize: one by one)")


def add_fresh(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--fresh", action="store_true", help="start a new experiment even if this one was run before")


def add_json(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-': to standard output, "
                   "alone; everything else goes to standard error)")


def check_json(args: argparse.Namespace) -> None:
    """``--json FILE``: one line and exit 2 now, before any work, if FILE cannot be written (``-``, standard
    output, always can)."""
    from descentlab.validation import check_output

    check_output(None if args.json == "-" else args.json, "json")


def add_quiet(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print less: no line per epoch or per run, only the summary")


def add_verbose(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print more: every step as it happens (trace: the start, then x, f(x), the gradient and the "
                        "update of every iteration)")


def add_experiment(p: argparse.ArgumentParser, default: str | None, meaning: str) -> None:
    """The experiment a reading command works on: a positional ``EXPERIMENT`` (an id or ``last``), also accepted
    as ``--experiment ID`` (the spelling ``runs`` had). ``meaning`` says what the default does."""
    p.add_argument("experiment", nargs="?", default=argparse.SUPPRESS, metavar="EXPERIMENT",
                   help=f"an experiment id, or 'last' ({meaning})")
    # The default sits on the flag: a positional left out (default SUPPRESS) then leaves it, or --experiment, alone.
    p.add_argument("--experiment", dest="experiment", default=default, metavar="EXPERIMENT", help=argparse.SUPPRESS)


def add_optimizers(p: argparse.ArgumentParser | argparse._ArgumentGroup, default: str, *,
                   hyperparameters: bool = True) -> None:
    """``--optimizers LIST`` with the command's ``default``; ``hyperparameters``: items may be NAME(key=value,...)."""
    forms = "a name, NAME(key=value,...), module:Name" if hyperparameters else "a name, module:Name"
    p.add_argument("--optimizers", default=default, metavar="LIST",
                   help=f"comma-separated optimizers, each {forms} or path/file.py:Name (default {default}; "
                        "names: `descentlab list optimizers`)")
