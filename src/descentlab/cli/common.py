"""``--optimizers`` lists: the one flag whose items are more than a name (every other value is checked by
:mod:`descentlab.validation`)."""

from __future__ import annotations

from typing import Any


def optimizer_items(text: str) -> tuple[str, ...]:
    """``--optimizers``: :func:`descentlab.optim.external.items` (registry names, ``module:Name`` or
    ``path/file.py:Name``, each optionally with hyperparameters ``name(k=v, ...)``, comma-separated)."""
    from descentlab.optim import external

    return external.items(text)


def check_names(args: Any) -> None:
    """The names among the flags (``--optimizers``/``--optimizer``, ``--task``/``--tasks``, ``--function``,
    ``--schedule``)
    checked against the torch-free catalogue (and the schedules' registry, torch-free too), so that a misspelt
    one is one line with a "did you mean" before torch starts.
    References (``module:Name``, ``file.py:Name``) and data files pass: they are checked when loaded. The
    registries check every name again when the objects are built."""
    from descentlab import catalogue
    from descentlab.grid import split_items

    for flag in ("optimizers", "optimizer"):
        for item in split_items(getattr(args, flag, None) or ""):
            name = item.split("(", 1)[0].strip()
            if name:
                catalogue.check_optimizer(name)
    if getattr(args, "task", None):
        catalogue.check_task(args.task)
    for item in split_items(getattr(args, "tasks", None) or ""):  # benchmark's list of tasks
        if item.strip():
            catalogue.check_task(item)
    if getattr(args, "function", None):
        catalogue.check_function(args.function)
    if getattr(args, "schedule", None):
        from descentlab.registry import dashed
        from descentlab.schedules.spec import check_name

        for item in split_items(args.schedule):
            given = item.split("(", 1)[0]
            name = dashed(given)  # as parse_schedule reads it: case-insensitive, _ = -
            if name:
                check_name(name, given)


# The executors' default (descentlab.experiments.executors.DEFAULT_GROUP_SIZE, which tests/cli/test_flags.py
# checks equal): the flag's help shows it without importing the executors (and torch).
DEFAULT_GROUP_SIZE = 16


def add_executor_arguments(p: Any) -> None:
    """The flags of where and how trials train (``sweep``, ``benchmark``): executor, Ray, device, vectorizing
    (torch-free: they are built for --help)."""
    from descentlab.cli import flags

    p.add_argument("--executor", default="local", choices=("local", "ray"), help="where trials train")
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local instance)")
    p.add_argument("--ray-cpus", help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--cpus-per-task", default="1", help="CPUs (and torch threads) per Ray task (default 1)")
    flags.add_device(p)
    flags.add_vectorize(p)
    p.add_argument("--group-size", default=str(DEFAULT_GROUP_SIZE),
                   help=f"trials per vectorized pass / Ray task (default {DEFAULT_GROUP_SIZE})")


def executor_from(args: Any) -> Any:
    """The executor the flags of :func:`add_executor_arguments` ask for (each value checked)."""
    from descentlab.experiments.executors import make_executor
    from descentlab.validation import parse_positive_int

    return make_executor(args.executor, vectorize=args.vectorize, device=args.device,
                         group_size=parse_positive_int(args.group_size, "group-size"),
                         ray_address=args.ray_address,
                         num_cpus=parse_positive_int(args.ray_cpus, "ray-cpus") if args.ray_cpus else None,
                         cpus_per_task=parse_positive_int(args.cpus_per_task, "cpus-per-task"))
