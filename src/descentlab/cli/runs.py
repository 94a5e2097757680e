"""``descentlab runs [--experiment ID|last] [--csv out.csv]``: what the results store holds."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "runs"
HELP = "List the experiments in the results store, or the runs of one; export them to CSV."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", metavar="ID", help="list the runs of this experiment (an id or 'last')")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also export the runs (every epoch) to this CSV")
    parser.add_argument("--store", type=Path, metavar="PATH", help="results store (default: $DESCENTLAB_STORE or "
                        "~/.local/share/descentlab/runs.sqlite)")


def _pct(value: float) -> str:
    return "–" if value != value else f"{value:.2%}"


def _experiments_table(store):
    from rich.markup import escape
    from rich.table import Table

    from descentlab.report.data import load

    table = Table(title=f"Experiments in {escape(str(store.path))}")
    for name, justify in (("id", "right"), ("kind", "left"), ("name", "left"), ("created (UTC)", "left"),
                          ("task", "left"), ("runs", "right"), ("statuses", "left")):
        table.add_column(name, justify=justify)
    for exp in store.experiments():
        data = load(store, exp.id)
        counts: dict[str, int] = {}
        for r in data.runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        statuses = ", ".join(f"{n} {s}" for s, n in counts.items())
        table.add_row(str(exp.id), exp.kind, exp.name or "", exp.created_at[:19].replace("T", " "),
                      ", ".join(data.tasks), str(len(data.runs)), statuses)
    return table


def _runs_table(store, experiment: str):
    from rich.markup import escape
    from rich.table import Table

    from descentlab.report.data import load
    from descentlab.schedules.spec import scheduled_label

    data = load(store, experiment)
    exp = data.experiment
    table = Table(title=escape(f"Runs of {exp.kind} #{exp.id}" + (f" — {exp.name}" if exp.name else "")))
    for name, justify in (("run", "right"), ("optimizer", "left"), ("batch", "right"), ("lr", "right"),
                          ("seed", "right"), ("status", "left"), ("final val acc", "right"),
                          ("final test acc", "right"), ("train seconds", "right")):
        table.add_column(name, justify=justify)
    for r in data.runs:
        status = r.status + (f" at step {r.run.diverged_step}" if r.run.diverged_step is not None else "")
        seconds = r.elapsed()
        table.add_row(str(r.run.id), scheduled_label(r.optimizer, r.schedule), str(r.batch_size),
                      f"{r.lr:.3g}" if r.lr is not None else "–", str(r.seed), status, _pct(r.final("val_acc")),
                      _pct(r.final("test_acc")),
                      f"{seconds[-1]:.1f}" if len(seconds) else "–")
    return table


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from descentlab.cli.report import open_store
    from descentlab.store import default_store_path
    from descentlab.validation import check_output

    check_output(args.csv, "csv")
    console = Console()
    if not console.is_terminal:  # piped or captured: no terminal width to fit, so do not squash the columns
        console = Console(width=max(console.width, 150))
    path = Path(args.store or default_store_path())
    if args.experiment is None and args.csv is None and not path.exists():  # nothing stored yet is no error
        console.print(f"no experiments yet: there is no results store at {escape(str(path))}; run "
                      "`descentlab compare` to make one")
        return 0
    with open_store(args.store) as store:
        if args.experiment is None and not store.experiments():
            console.print(f"no experiments in {escape(str(store.path))} yet; run `descentlab compare` to make one")
            return 0
        table = _experiments_table(store) if args.experiment is None else _runs_table(store, args.experiment)
        console.print(table)
        if args.csv is not None:
            store.to_csv(args.csv, args.experiment)
            console.print(f"wrote {escape(str(args.csv))}")
    return 0
