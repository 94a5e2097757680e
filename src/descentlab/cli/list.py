"""``descentlab list``: what can be named on the command line.

Read from the torch-free declarations (:mod:`descentlab.catalogue`, the presets, the schedules' registry, the
experiment kinds) and the plugins' entry-point metadata, so that it answers without starting torch; a plugin's own
object loads only when a command uses it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from descentlab import catalogue, plugins

if TYPE_CHECKING:
    from rich.table import Table

WHAT = ("optimizers", "tasks", "datasets", "presets", "schedules", "functions", "kinds")
EXAMPLES = """examples:
  descentlab list                  # everything
  descentlab list optimizers       # one table: optimizers, tasks, datasets, presets, schedules, functions, kinds
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=(*WHAT, "all"), default="all", help="what to list (default: all)")


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def _optimizers() -> Table:
    t = _table("Optimizers (also: module:Name or path/file.py:Name, see docs/bring-your-own.md)",
               "name", "class", "implied hyperparameters", "from", "what it is")
    for o in catalogue.OPTIMIZERS:
        t.add_row(o.name, o.cls, ", ".join(f"{k}={v}" for k, v in o.implied.items()) or "–", "built-in", o.summary)
    for p in catalogue.plugin_entries(plugins.OPTIMIZERS):
        t.add_row(p.name.strip().lower(), p.value.replace(":", "."), "–", p.source, "(a plugin: loaded when used)")
    return t


def _tasks() -> Table:
    t = _table("Tasks (also: path/file.py:name, module:name, a .npz or .csv file: docs/bring-your-own.md)",
               "name", "dataset", "epochs", "batch", "target val acc", "from", "model")
    for task in catalogue.TASKS:
        target = f"{task.target_val_acc:.0%}" if task.target_val_acc is not None else "–"
        t.add_row(task.name, task.dataset, str(task.epochs), str(task.batch_size), target, "built-in",
                  task.description)
    for p in catalogue.plugin_entries(plugins.TASKS):
        t.add_row(p.name, "–", "–", "–", "–", p.source, "(a plugin: loaded when used)")
    return t


def _datasets() -> Table:
    t = _table("Datasets (of the tasks; a .npz or .csv file of your own: --data FILE)", "name", "what it is")
    for d in catalogue.DATASETS:
        t.add_row(d.name, d.description)
    return t


def _presets() -> Table:
    from descentlab.experiments.presets import PRESETS

    t = _table("Presets", "name", "init", "batch", "overrides", "description")
    for p in PRESETS.values():
        over = "; ".join(f"{o}: " + ", ".join(f"{k}={v}" for k, v in h.items()) for o, h in p.hyper.items())
        t.add_row(p.name, p.init, str(p.batch_size or "task's"), over or "–", p.description)
    return t


def _schedules() -> Table:
    from descentlab.schedules import SCHEDULES
    from descentlab.schedules.spec import HORIZON, PEAK, allowed_parameters

    t = _table("Schedules (--schedule 'NAME(key=value,...)'; descentlab.schedules.make_schedule)", "name",
               "built by", "parameters (a run fills in the peak = its lr, the horizon = its updates)")
    for name, factory in SCHEDULES.items():
        filled = {PEAK[name]: "=lr", HORIZON.get(name): "=updates"}
        params = ", ".join(p + filled.get(p, "") for p in allowed_parameters(name))
        t.add_row(name, getattr(factory, "__qualname__", str(factory)), params)
    return t


def _functions() -> Table:
    t = _table("2-D test functions (descentlab trace)", "name", "dim", "description")
    for f in catalogue.FUNCTIONS:
        t.add_row(f.name, str(f.dim), f.description)
    return t


def _kinds() -> Table:
    from descentlab.kinds import KINDS

    t = _table("Experiment kinds (what the store holds; descentlab runs, descentlab report)", "name", "report",
               "what it is")
    for name, kind in KINDS.items():
        report = {"lr-range": "LR range test", "benchmark": "performance profiles across tasks"}.get(
            kind.layout, "per-epoch runs" + (", lr chosen on validation" if kind.sweeps_lr else ""))
        t.add_row(name, report, kind.summary)
    return t


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(highlight=False, emoji=False)
    if not console.is_terminal:  # piped or captured: wide enough for the tables (as make_console)
        console = Console(highlight=False, emoji=False, width=160)
    makers = {"optimizers": _optimizers, "tasks": _tasks, "datasets": _datasets, "presets": _presets,
              "schedules": _schedules, "functions": _functions, "kinds": _kinds}
    for what in WHAT if args.what == "all" else (args.what,):
        console.print(makers[what]())
    return 0
