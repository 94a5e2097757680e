"""``descentlab benchmark``: every optimizer tuned with the same budget on every task, the selected configuration
re-run over seeds, scored by performance profiles (``docs/benchmark.md``)."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli import flags
from descentlab.cli.spec_option import add_spec_argument, apply_spec_file

EXAMPLES = """examples:
  descentlab benchmark                                 # sgd, nesterov, adam, rmsprop on digits-mlp and mnist1d-mlp
  descentlab benchmark --tasks digits-mlp --optimizers adam,adamw --budget 1,8,32 --seeds 5 --json -
  descentlab benchmark --spec bench.toml                 # the flags from a file (descentlab report N --toml writes it)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from descentlab.cli.common import add_executor_arguments

    p.add_argument("--tasks", default="digits-mlp,mnist1d-mlp",
                   help="comma-separated task names or references (./my_task.py:task, package.module:name) "
                   "(default digits-mlp,mnist1d-mlp)")
    flags.add_optimizers(p, "sgd,nesterov,adam,rmsprop")
    p.add_argument("--budget", default="1,8", help="tuning budgets in trials per task and optimizer, increasing, "
                   "e.g. 1,8,32 (1: the defaults, one-shot; each budget is a prefix of the next) (default 1,8)")
    flags.add_seeds(p, 3)  # the seeds the selected configuration is re-run with
    p.add_argument("--epochs", help="epochs per run, every task (default: each task's)")
    flags.add_preset(p)
    p.add_argument("--search-seed", default="0", help="seed of the quasi-random search sequence (default 0)")
    add_executor_arguments(p)
    flags.add_data_dir(p)
    flags.add_store(p)
    flags.add_json(p)
    flags.add_fresh(p)
    flags.add_quiet(p)
    add_spec_argument(p)  # last: it learns the flags above


def spec_from(args: argparse.Namespace) -> Any:
    from descentlab.cli.common import optimizer_items
    from descentlab.experiments.benchmark import BenchmarkSpec
    from descentlab.tasks import get_task
    from descentlab.validation import parse_list, parse_positive_int

    tasks = tuple(get_task(t).name for t in parse_list(args.tasks, "tasks"))
    spec = BenchmarkSpec(
        tasks=tasks, optimizers=optimizer_items(args.optimizers),
        budgets=tuple(parse_positive_int(b, "budget") for b in parse_list(args.budget, "budget")),
        seeds=parse_positive_int(args.seeds, "seeds"),
        epochs=parse_positive_int(args.epochs, "epochs") if args.epochs else None, preset=args.preset,
        search_seed=_whole(args.search_seed, "search-seed"), data_dir=args.data_dir)
    spec.check()
    return spec


def _whole(text: str, what: str) -> int:
    from descentlab.errors import UserError

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UserError(f"--{what} {text!r} must be a whole number ≥ 0")
    return value


def run(args: argparse.Namespace) -> int:
    from descentlab.cli.common import check_names

    apply_spec_file(args)  # --spec FILE.toml: the file's values, then the flags given
    check_names(args)  # a misspelt name answers before torch starts
    import time

    from rich.markup import escape

    from descentlab.cli.common import executor_from
    from descentlab.cli.output import make_console, print_outcome, print_table, stored_line, waiting_note, write_json
    from descentlab.experiments import benchmark
    from descentlab.experiments.executors import vectorized_trainer
    from descentlab.store import Store

    started = time.perf_counter()
    console = make_console(stderr=args.json == "-")
    spec = spec_from(args)
    spec.tuning_configs()  # every name and value checked before anything else
    flags.check_json(args)
    if args.vectorize and vectorized_trainer() is None:
        console.print("note: the vectorized trainer is not available; training trials one by one")
    executor = executor_from(args)
    prepared = benchmark.prepare(spec)  # the data loaded and the batch sizes checked before the store is made

    def opened(o: benchmark.Opened) -> None:
        console.print(f"[bold]benchmark[/] of {', '.join(spec.optimizers)} on {', '.join(spec.tasks)}: budgets "
                      f"{', '.join(map(str, spec.budgets))} trials, {spec.seeds} evaluation seed(s) — "
                      f"{o.tuning_trials} tuning trials"
                      + (f" ({o.already} runs already in the store, resumed)" if o.already else "")
                      + f" — executor {args.executor}" + (", vectorized" if args.vectorize else ""), highlight=False)

    def evaluation(n: int) -> None:
        console.print(f"evaluation: {n} runs, the configurations selected at each budget at seeds 1..{spec.seeds}",
                      highlight=False)

    def report(phase: str, trial: Any, result: Any) -> None:
        if args.quiet:
            return
        c = trial.config
        last = result.epochs[-1] if result.epochs else {}
        value = last.get("val_loss") if last.get("val_acc") is None else last.get("val_acc")
        shown = f"val {value:.4g}" if isinstance(value, float) else escape(result.error or "")
        console.print(f"{phase} {c.task} {escape(c.display_name)} seed {c.seed} "
                      f"lr {c.hyperparameters.get('lr', float('nan')):.4g}: {result.status} {shown}", highlight=False)

    with Store(args.store) as store:
        eid, outcome = benchmark.run(spec, store, executor, fresh=args.fresh, prepared=prepared, on_opened=opened,
                                     on_evaluation=evaluation, on_result=report, on_wait=waiting_note(console))
        print_outcome(console, outcome)

        from descentlab.report import benchmark as report_benchmark
        from descentlab.report.data import load

        result = report_benchmark.analyse(load(store, eid))
        for table in report_benchmark.console_tables(result):
            print_table(console, table)
        for line in report_benchmark.statements(result):
            console.print(line, highlight=False)
        console.print(f"took {time.perf_counter() - started:.1f} s", highlight=False)
        console.print(stored_line(eid, store.path))
        if args.json:
            write_json(args.json, report_benchmark.to_json(result))
    return 0
