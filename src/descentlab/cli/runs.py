"""``descentlab runs [EXPERIMENT] [--csv out.csv] [--json FILE|-]``: what the results store holds."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from descentlab.cli import flags

EXAMPLES = """examples:
  descentlab runs                          # the experiments in the store
  descentlab runs last                     # the runs of the latest experiment
  descentlab runs 3 --csv runs.csv         # experiment 3's runs, every epoch, as CSV
  descentlab runs --json - | jq '.experiments[].id'
"""


# Said under a listing with interrupted runs: what the word means (the store keeps them as ``running``).
INTERRUPTED = ("interrupted: left running by a process that stopped (killed, or it stopped renewing its claim on the "
               "trial); the same command, run again, trains it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_experiment(parser, None, "list its runs; default: list the experiments")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also export the runs (every epoch) to this CSV")
    flags.add_json(parser)
    flags.add_store(parser)


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def experiment_rows(store: Any) -> list[dict[str, Any]]:
    """One row per experiment: what the table shows and ``--json`` writes."""
    from descentlab.report.data import load

    rows = []
    for exp in store.experiments():
        data = load(store, exp.id)
        counts: dict[str, int] = {}
        for r in data.runs:
            counts[r.run.shown_status] = counts.get(r.run.shown_status, 0) + 1
        rows.append({"id": exp.id, "kind": exp.kind, "name": exp.name or "", "created_at": exp.created_at,
                     "tasks": list(data.tasks), "runs": len(data.runs), "statuses": counts})
    return rows


def run_rows(store: Any, experiment: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The experiment (id, kind, name, created) and one row per run: what the table shows and ``--json`` writes."""
    from descentlab.kinds import layout_of
    from descentlab.lr_range import is_check_run
    from descentlab.report.data import load
    from descentlab.schedules.spec import scheduled_label

    data = load(store, experiment)
    exp = data.experiment
    lr_range = layout_of(exp.kind) == "lr-range"
    rows = []
    for r in data.runs:
        seconds = r.elapsed()
        label = scheduled_label(r.optimizer, r.schedule)
        if lr_range and is_check_run(r.config):  # a constant-rate run of lr-find's check, not a range test's seed
            label = f"{label} (check)"
        rows.append({"run_id": r.run.id, "optimizer": label,
                     "batch_size": r.batch_size, "lr": r.lr, "seed": r.seed, "status": r.status,
                     "interrupted": r.run.interrupted, "last_seen": r.run.last_seen,
                     "diverged_step": r.run.diverged_step, "final_val_acc": _number(r.final("val_acc")),
                     "final_test_acc": _number(r.final("test_acc")),
                     "final_val_loss": _number(r.final("val_loss")), "final_test_loss": _number(r.final("test_loss")),
                     "train_seconds": float(seconds[-1]) if len(seconds) else None})
    return {"id": exp.id, "kind": exp.kind, "name": exp.name or "", "created_at": exp.created_at}, rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _experiments_table(store: Any, rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Experiments in {escape(str(store.path))}")
    for name, justify in (("id", "right"), ("kind", "left"), ("name", "left"), ("created (UTC)", "left"),
                          ("task", "left"), ("runs", "right"), ("statuses", "left")):
        table.add_column(name, justify=justify)
    for row in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in row["statuses"].items())
        table.add_row(str(row["id"]), row["kind"], row["name"], row["created_at"][:19].replace("T", " "),
                      ", ".join(row["tasks"]), str(row["runs"]), statuses)
    return table


def _loss(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _runs_table(exp: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    # a task whose metric is the loss (regression) has no accuracies: its final losses are what to show
    accuracy = any(r["final_val_acc"] is not None or r["final_test_acc"] is not None for r in rows) or not any(
        r["final_val_loss"] is not None for r in rows)
    metric, show = ("acc", _pct) if accuracy else ("loss", _loss)
    table = Table(title=escape(f"Runs of {exp['kind']} #{exp['id']}" + (f" — {exp['name']}" if exp["name"] else "")))
    for name, justify in (("run", "right"), ("optimizer", "left"), ("batch", "right"), ("lr", "right"),
                          ("seed", "right"), ("status", "left"), (f"final val {metric}", "right"),
                          (f"final test {metric}", "right"), ("train seconds", "right")):
        table.add_column(name, justify=justify)
    for r in rows:
        status = r["status"] + (f" at step {r['diverged_step']}" if r["diverged_step"] is not None else "")
        if r["interrupted"]:
            status = "interrupted" + (f" (stopped {r['last_seen'][:10]} {r['last_seen'][11:19]} UTC)"
                                      if r["last_seen"] else "")
        table.add_row(str(r["run_id"]), r["optimizer"], str(r["batch_size"]),
                      f"{r['lr']:.3g}" if r["lr"] is not None else "–", str(r["seed"]), status,
                      show(r[f"final_val_{metric}"]), show(r[f"final_test_{metric}"]),
                      f"{r['train_seconds']:.1f}" if r["train_seconds"] is not None else "–")
    return table


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from descentlab.cli.output import write_json
    from descentlab.cli.report import open_store
    from descentlab.store import default_store_path
    from descentlab.validation import check_output

    check_output(args.csv, "csv")
    flags.check_json(args)
    console = Console(emoji=False, stderr=args.json == "-")  # --json -: standard output holds the JSON alone
    if not console.is_terminal:  # piped or captured: no terminal width to fit, so do not squash the columns
        console = Console(width=max(console.width, 150), emoji=False, stderr=args.json == "-")
    path = Path(args.store or default_store_path())
    if args.experiment is None and args.csv is None and not path.exists():  # nothing stored yet is no error
        console.print(f"no experiments yet: there is no results store at {escape(str(path))}; run "
                      "`descentlab compare` to make one")
        if args.json:
            write_json(args.json, {"store": str(path), "experiments": []})
        return 0
    with open_store(args.store) as store:
        if args.experiment is None:
            rows = experiment_rows(store)
            payload: dict[str, Any] = {"store": str(store.path), "experiments": rows}
            if rows:
                console.print(_experiments_table(store, rows))
            else:
                console.print(f"no experiments in {escape(str(store.path))} yet; run `descentlab compare` to make "
                              "one")
        else:
            exp, rows = run_rows(store, args.experiment)
            payload = {"store": str(store.path), "experiment": exp, "runs": rows}
            console.print(_runs_table(exp, rows))
            if any(r["interrupted"] for r in rows):
                console.print(INTERRUPTED, highlight=False)
        if args.csv is not None:
            store.to_csv(args.csv, args.experiment)
            console.print(f"wrote {escape(str(args.csv))}")
        if args.json:
            write_json(args.json, payload)
            if args.json != "-":
                console.print(f"wrote {escape(str(args.json))}")
    return 0
