"""``descentlab list``: what can be named on the command line."""

from __future__ import annotations

import argparse

from rich.table import Table

from descentlab.cli.output import make_console

NAME = "list"
HELP = "List optimizers, tasks, presets, schedules, 2-D test functions and experiment kinds."
WHAT = ("optimizers", "tasks", "presets", "schedules", "functions", "kinds")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=(*WHAT, "all"), default="all", help="what to list (default: all)")


def _optimizers() -> Table:
    from descentlab import optim

    t = Table(title="Optimizers (also: module:Name or path/file.py:Name, see docs/bring-your-own.md)",
              title_justify="left")
    for col in ("name", "class", "implied hyperparameters", "from", "what it is"):
        t.add_column(col)
    for name in optim.names():
        entry = optim.get(name)
        implied = ", ".join(f"{k}={v}" for k, v in entry.implied.items())
        cls = f"{getattr(entry.cls, '__module__', '?')}.{getattr(entry.cls, '__qualname__', entry.cls)}"
        t.add_row(name, cls, implied or "–", optim.REGISTRY.source(name), entry.summary)
    return t


def _tasks() -> Table:
    from descentlab.tasks import get_task, task_names
    from descentlab.tasks.registry import TASKS

    t = Table(title="Tasks (also: path/file.py:name, module:name, a .npz or .csv file: docs/bring-your-own.md)",
              title_justify="left")
    for col in ("name", "dataset", "epochs", "batch", "target val acc", "from", "model"):
        t.add_column(col)
    for name in task_names():
        task = get_task(name)
        target = f"{task.target_val_acc:.0%}" if task.target_val_acc is not None else "–"
        t.add_row(name, task.dataset, str(task.default_epochs), str(task.default_batch_size), target,
                  TASKS.source(name), task.description)
    return t


def _presets() -> Table:
    from descentlab.experiments.presets import PRESETS

    t = Table(title="Presets", title_justify="left")
    for col in ("name", "init", "batch", "overrides", "description"):
        t.add_column(col)
    for p in PRESETS.values():
        over = "; ".join(f"{o}: " + ", ".join(f"{k}={v}" for k, v in h.items()) for o, h in p.hyper.items())
        t.add_row(p.name, p.init, str(p.batch_size or "task's"), over or "–", p.description)
    return t


def _schedules() -> Table:
    from descentlab.schedules import SCHEDULES
    from descentlab.schedules.spec import HORIZON, PEAK, allowed_parameters

    t = Table(title="Schedules (--schedule 'NAME(key=value,...)'; descentlab.schedules.make_schedule)",
              title_justify="left")
    t.add_column("name")
    t.add_column("built by")
    t.add_column("parameters (a run fills in the peak = its lr, the horizon = its updates)")
    for name, factory in SCHEDULES.items():
        filled = {PEAK[name]: "=lr", HORIZON.get(name): "=updates"}
        params = ", ".join(p + filled.get(p, "") for p in allowed_parameters(name))
        t.add_row(name, getattr(factory, "__qualname__", str(factory)), params)
    return t


def _functions() -> Table | None:
    try:
        from descentlab.tasks.functions import FUNCTIONS
    except ImportError:
        return None
    t = Table(title="2-D test functions (descentlab trace)", title_justify="left")
    t.add_column("name")
    t.add_column("dim")
    t.add_column("description")
    for f in FUNCTIONS.values():
        t.add_row(f.name, str(f.dim), f.description)
    return t


def _kinds() -> Table:
    from descentlab.kinds import KINDS

    t = Table(title="Experiment kinds (what the store holds; descentlab runs, descentlab report)", title_justify="left")
    for col in ("name", "report", "what it is"):
        t.add_column(col)
    for name, kind in KINDS.items():
        report = {"lr-range": "LR range test", "benchmark": "performance profiles across tasks"}.get(
            kind.layout, "per-epoch runs" + (", lr chosen on validation" if kind.sweeps_lr else ""))
        t.add_row(name, report, kind.summary)
    return t


def run(args: argparse.Namespace) -> int:
    console = make_console()
    makers = {"optimizers": _optimizers, "tasks": _tasks, "presets": _presets, "schedules": _schedules,
              "functions": _functions, "kinds": _kinds}
    for what in WHAT if args.what == "all" else (args.what,):
        table = makers[what]()
        if table is not None:
            console.print(table)
    return 0
