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


def add_json(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-': to standard output, "
                   "alone; everything else goes to standard error)")


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


def optimizer_names_help() -> str:
    """``sgd, momentum, …`` for a help text, from the torch-free catalogue."""
    from descentlab.catalogue import optimizer_names

    return ", ".join(optimizer_names())
