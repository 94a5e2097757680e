"""``descentlab benchmark``: every optimizer tuned with the same budget on every task, the selected configuration
re-run over seeds, scored by performance profiles (``docs/benchmark.md``)."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli import flags

EXAMPLES = """examples:
  descentlab benchmark                                 # sgd, nesterov, adam, rmsprop on digits-mlp and mnist1d-mlp
  descentlab benchmark --tasks digits-mlp --optimizers adam,adamw --budget 1,8,32 --seeds 5 --json -
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

    check_names(args)  # a misspelt name answers before torch starts
    import time

    from rich.markup import escape

    from descentlab.cli.common import executor_from
    from descentlab.cli.output import make_console, print_outcome, print_table, stored_line, waiting_note, write_json
    from descentlab.data.fingerprint import fingerprint
    from descentlab.experiments.benchmark import selected
    from descentlab.experiments.executors import vectorized_trainer
    from descentlab.experiments.runner import Trial, open_experiment, unique_trials
    from descentlab.store import Store
    from descentlab.tasks import get_task
    from descentlab.tasks.external import identity
    from descentlab.validation import check_batch_sizes

    started = time.perf_counter()
    console = make_console(stderr=args.json == "-")
    spec = spec_from(args)
    tuning = {task: spec.tuning_configs(task) for task in spec.tasks}  # every name and value checked here
    flags.check_json(args)
    if args.vectorize and vectorized_trainer() is None:
        console.print("note: the vectorized trainer is not available; training trials one by one")
    executor = executor_from(args)
    splits = {}
    for task, configs in tuning.items():
        splits[task] = get_task(task).load(data_dir=spec.data_dir, val_fraction=configs[0].val_fraction,
                                           seed=configs[0].data_seed)
        check_batch_sizes({c.batch_size for c in configs}, splits[task].x_train.shape[0])
    stored_spec = {**spec.to_dict(), "datasets": {task: fingerprint(s) for task, s in splits.items()}}
    users = {task: identity(get_task(task)) for task in spec.tasks}
    if any(users.values()):  # a user's task: where it came from and its fingerprints are part of the identity
        stored_spec["task_identity"] = users
    all_tuning = [c for configs in tuning.values() for c in configs]

    with Store(args.store) as store:
        opened = open_experiment(store, "benchmark", stored_spec, all_tuning, fresh=args.fresh,
                                 execution=executor.identity())
        eid = opened.experiment_id
        already = len(store.completed_trial_keys(eid))
        console.print(f"[bold]benchmark[/] of {', '.join(spec.optimizers)} on {', '.join(spec.tasks)}: budgets "
                      f"{', '.join(map(str, spec.budgets))} trials, {spec.seeds} evaluation seed(s) — "
                      f"{len(opened.trials)} tuning trials"
                      + (f" ({already} runs already in the store, resumed)" if already else "")
                      + f" — executor {args.executor}" + (", vectorized" if args.vectorize else ""), highlight=False)

        def on_result(phase: str) -> Any:
            def report(trial: Trial, result: Any) -> None:
                if args.quiet:
                    return
                c = trial.config
                last = result.epochs[-1] if result.epochs else {}
                value = last.get("val_loss") if last.get("val_acc") is None else last.get("val_acc")
                shown = f"val {value:.4g}" if isinstance(value, float) else escape(result.error or "")
                console.print(f"{phase} {c.task} {escape(c.display_name)} seed {c.seed} "
                              f"lr {c.hyperparameters.get('lr', float('nan')):.4g}: {result.status} {shown}",
                              highlight=False)
            return report

        outcomes = []
        for task in spec.tasks:  # phase 1: the tuning trials
            outcomes.append(executor.run(unique_trials(tuning[task]), store=store, experiment_id=eid,
                                         splits=splits[task], on_result=on_result("tune"),
                                         on_wait=waiting_note(console)))
        chosen = selected(spec, store.runs(eid))
        evaluation = {task: unique_trials(spec.evaluation_configs(chosen, task)) for task in spec.tasks}
        console.print(f"evaluation: {sum(map(len, evaluation.values()))} runs, the configurations selected at each "
                      f"budget at seeds 1..{spec.seeds}", highlight=False)
        for task, trials in evaluation.items():  # phase 2: the selected configurations over the evaluation seeds
            if trials:
                outcomes.append(executor.run(trials, store=store, experiment_id=eid, splits=splits[task],
                                             on_result=on_result("eval"), on_wait=waiting_note(console)))
        for outcome in outcomes[1:]:
            outcomes[0].trained += outcome.trained
            outcomes[0].finished_elsewhere += outcome.finished_elsewhere
            outcomes[0].waited += outcome.waited
            outcomes[0].holders |= outcome.holders
        print_outcome(console, outcomes[0])

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
