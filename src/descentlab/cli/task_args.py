"""The task flags of the training commands: a task by name or reference (``--task``), or a data file
(``--data``, ``--label-column``, ``--test-data``) on a default MLP."""

from __future__ import annotations

import argparse

from descentlab.errors import UserError


def add_task_arguments(p: argparse.ArgumentParser, default: str | None) -> None:
    shown = f" (default {default})" if default else ""
    p.add_argument("--task", help="a task name (see `descentlab list`), or your own network and data: "
                   f"./my_task.py:task or package.module:name{shown}")
    p.add_argument("--data", metavar="FILE", help="your data file on a default MLP sized from it: .npz with x_train, "
                   "y_train, x_test, y_test (optionally x_val, y_val), or .csv with a header row and a label column")
    p.add_argument("--label-column", metavar="NAME", help="the CSV column holding the labels (default: 'label', "
                   "else the last column)")
    p.add_argument("--test-data", metavar="FILE", help="a CSV of test rows (default: 20%% of --data's rows, carved "
                   "off with a fixed seed)")


def task_from(args: argparse.Namespace, default: str | None) -> str:
    """The name of the task the flags choose, resolved and registered (user code imported, data read and checked:
    bad input fails here, before anything trains)."""
    from descentlab.tasks import data_task, get_task
    from descentlab.tasks.external import add

    if args.data is None:
        if args.label_column is not None or args.test_data is not None:
            raise UserError("--label-column and --test-data go with --data FILE.csv")
        if args.task is None and default is None:
            raise UserError("say what to train on: --task NAME (see `descentlab list`), --task ./my_task.py:task, "
                            "or --data FILE (.npz or .csv)")
        return get_task(args.task or default).name
    if args.task is not None:
        raise UserError(f"--task {args.task!r} and --data {args.data!r}: give one of them")
    return add(data_task(args.data, label_column=args.label_column, test=args.test_data)).name
