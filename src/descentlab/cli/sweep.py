"""``descentlab sweep``: each optimizer over a log-spaced learning-rate range, lr chosen on validation."""

from __future__ import annotations

import argparse
import ast
import math
from typing import TYPE_CHECKING, Any

from descentlab.cli import flags
from descentlab.cli.common import add_executor_arguments, check_names, executor_from, optimizer_items
from descentlab.cli.spec_option import add_spec_argument, apply_spec_file
from descentlab.cli.task_args import add_task_arguments, task_from
from descentlab.errors import UserError
from descentlab.grid import extras_of, split_items, variant_label
from descentlab.schedules.spec import SCHEDULE_HELP, schedule_list, scheduled_label
from descentlab.validation import (
    check_batch_sizes,
    check_points,
    parse_batch_sizes,
    parse_float,
    parse_list,
    parse_positive_int,
    parse_range,
)

if TYPE_CHECKING:  # the heavy modules (torch, rich) are imported by run(), so that --help answers at once
    from rich.console import Console

    from descentlab.experiments.runner import Trial
    from descentlab.experiments.sweep import SweepSpec
    from descentlab.store import Store
    from descentlab.train import RunResult

LISTS = {"momentum": "momentum", "weight-decay": "weight_decay", "beta1": "beta1", "beta2": "beta2"}
EXAMPLES = """examples:
  descentlab sweep                                     # sgd, momentum, adam over 1e-4..1 on MNIST-1D
  descentlab sweep --optimizers adam,adamw --lr 1e-5..1e-1 --points 9 --seeds 3
  descentlab sweep --optimizers momentum --momentum 0.8,0.9,0.99 --hp weight_decay=0,1e-4
  descentlab sweep --executor ray --ray-cpus 8 --json sweep.json
  descentlab sweep --spec sweep.toml --points 12       # a spec file (descentlab report N --toml); flags win
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what to train")
    add_task_arguments(what, "mnist1d-mlp")
    flags.add_data_dir(what)
    how = p.add_argument_group("optimizers and the grid")
    flags.add_optimizers(how, "sgd,momentum,adam")
    how.add_argument("--lr", default="1e-4..1", help="learning-rate range LO..HI (default 1e-4..1)")
    how.add_argument("--points", default="8", help="log-spaced learning rates in the range (default 8)")
    how.add_argument("--schedule", help=SCHEDULE_HELP + "; each learning rate of the range is the peak of each "
                     "schedule, e.g. --schedule constant,cosine (default: a constant lr)")
    for flag, name in LISTS.items():
        how.add_argument(f"--{flag}", help=f"values of {name} to cross with the learning rates, e.g. 0.8,0.9")
    how.add_argument("--hp", action="append", default=[], metavar="NAME=V1,V2",
                     help="any other hyperparameter as a list (repeatable), e.g. --hp eps=1e-8,1e-6; values are "
                          "numbers, true/false, tuples or words: --hp 'betas=(0.9,0.99),(0.9,0.999)' --hp mode=a,b")
    flags.add_seeds(how, 1)
    how.add_argument("--epochs", help="epochs per run (default: the task's)")
    how.add_argument("--batch-size", help="B, 1 or 'full' (default: the preset's/task's)")
    flags.add_preset(how)
    run_ = p.add_argument_group("execution")
    add_executor_arguments(run_)  # executor, Ray, device, vectorizing: shared with benchmark
    flags.add_fresh(run_)
    out = p.add_argument_group("output")
    flags.add_store(out)
    flags.add_json(out)
    flags.add_quiet(out)
    add_spec_argument(p)  # last: it learns the flags above


def _number(text: str, what: str) -> Any:
    """One value of ``--hp``: a number (finite: ``--hp eps=inf`` is refused), ``true``/``false``, ``None``, a
    tuple of numbers (``(0.9,0.99)``, for ``betas``), a quoted text or a bare word (``mode=fast``): what an
    optimizer's constructor may take beyond numbers."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        float(text)
    except ValueError:
        pass
    else:
        return parse_float(text, what)
    if text.isidentifier():
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        value = None
    if isinstance(value, str) or (isinstance(value, tuple) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        return value
    raise UserError(f"--{what} {text!r} is not a number, true/false, a tuple of numbers such as (0.9,0.99), or a "
                    "word")


def grid_from(args: argparse.Namespace) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    grid = [(name, tuple(parse_float(v, flag) for v in parse_list(getattr(args, name), flag)))
            for flag, name in LISTS.items() if getattr(args, name)]
    for item in args.hp:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--hp {item!r} must look like NAME=V1,V2")
        name = name.strip().replace("-", "_")
        # commas inside a tuple's parentheses stay; [a, b] (how a spec file written by `report --toml` holds a
        # tuple) reads as (a, b)
        items = [v for v in split_items(values.replace("[", "(").replace("]", ")")) if v]
        if not items:
            raise UserError(f"--hp {item!r} has no values; give NAME=V1,V2")
        grid.append((name, tuple(_number(v, f"hp {name}") for v in items)))
    return tuple(grid)


def spec_from(args: argparse.Namespace) -> SweepSpec:
    check_names(args)  # a misspelt name answers before torch starts
    from descentlab.experiments.sweep import SweepSpec
    lo, hi = parse_range(args.lr, "lr")
    points = parse_positive_int(args.points, "points")
    check_points(lo, hi, points)
    batch = parse_batch_sizes(args.batch_size) if args.batch_size else None
    if batch and len(batch) > 1:
        raise UserError(f"--batch-size {args.batch_size!r}: a sweep takes one batch size")
    return SweepSpec(
        task=task_from(args, "mnist1d-mlp"), optimizers=optimizer_items(args.optimizers),
        lr_min=lo, lr_max=hi, points=points,
        seeds=parse_positive_int(args.seeds, "seeds"),
        epochs=parse_positive_int(args.epochs, "epochs") if args.epochs else None,
        batch_size=batch[0] if batch else None, preset=args.preset, grid=grid_from(args), data_dir=args.data_dir,
        schedules=tuple(s.label for s in schedule_list(args.schedule)) if args.schedule else ())


def _progress(progress: Any, bar: Any) -> Any:
    """The tracker that advances the bar per epoch of a run trained in this process; its ``done`` catches up the
    rest. (Defined here so that the trainer's Callback, and torch, are imported only when a sweep runs.)"""
    from descentlab.train import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.progress, self.bar, self.advanced, self.finished = progress, bar, {}, 0

        def live(self, trial: Trial) -> list[Callback]:
            tracker = self

            class Epochs(Callback):
                def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
                    tracker.advanced[trial.key] = tracker.advanced.get(trial.key, 0) + 1
                    tracker.progress.advance(tracker.bar)

            return [Epochs()]

        def done(self, trial: Trial, total: int) -> None:
            self.finished += 1
            self.progress.advance(self.bar, trial.config.epochs - self.advanced.get(trial.key, 0))
            self.progress.update(self.bar, description=f"sweep: {self.finished}/{total} trials")

    return Progress()


def _run_line(spec: SweepSpec, trial: Trial, result: RunResult) -> str:
    from rich.markup import escape

    c = trial.config
    extras = extras_of(c.hyperparameters, [name for name, _ in spec.grid])
    label = scheduled_label(variant_label(c.display_name, extras), getattr(c.schedule, "label", None))
    label += f" lr={c.hyperparameters['lr']:g}"
    label += f" seed={c.seed}" if spec.seeds > 1 else ""
    if result.status == "diverged":
        return f"{label}: [red]diverged[/] at step {result.diverged_step}"
    if result.status == "failed":
        return f"{label}: [red]failed[/]: {escape(result.error or '')}"
    last = result.epochs[-1] if result.epochs else {}
    val = last.get("val_acc")
    if val is None and last.get("val_loss") is not None:  # a task whose metric is the loss
        return f"{label}: val loss {last['val_loss']:.4g}"
    return f"{label}: val acc {val:.1%}" if val is not None else f"{label}: {result.status}"


def run(args: argparse.Namespace) -> int:
    apply_spec_file(args)  # --spec FILE.toml: the file's values, then the flags given
    spec = spec_from(args)
    from descentlab.cli.output import (
        make_console,
        print_outcome,
        print_solo_note,
        progress_bar,
        stored_line,
        waiting_note,
    )
    from descentlab.experiments.executors import vectorized_trainer
    from descentlab.experiments.runner import open_experiment
    from descentlab.store import Store
    from descentlab.tasks import get_task

    console = make_console(stderr=args.json == "-")  # --json -: standard output holds the JSON alone
    configs = spec.configs()  # every name and value checked before anything runs
    flags.check_json(args)
    for optimizer, name in spec.skipped():
        console.print(f"note: {optimizer} has no hyperparameter {name!r}; swept without it", highlight=False)
    if args.vectorize and vectorized_trainer() is None:
        console.print("note: the vectorized trainer is not available; training trials one by one")
    executor = executor_from(args)
    splits = get_task(spec.task).load(data_dir=spec.data_dir, val_fraction=configs[0].val_fraction,
                                      seed=configs[0].data_seed)
    check_batch_sizes({c.batch_size for c in configs}, splits.x_train.shape[0])
    with Store(args.store) as store:
        opened = open_experiment(store, "sweep", spec.to_dict(), configs, fresh=args.fresh, splits=splits,
                                 execution=executor.identity())
        experiment_id, todo, done = opened.experiment_id, opened.todo, opened.done
        console.print(f"[bold]{spec.task}[/]: sweep of {', '.join(spec.optimizers)} over {len(spec.learning_rates())}"
                      f" learning rates {spec.lr_min:g}..{spec.lr_max:g}"
                      + (f" × schedules {', '.join(spec.to_dict()['schedules'])}" if spec.schedules else "")
                      + f" × {spec.seeds} seed(s) — {len(configs)} "
                      f"runs" + (f" ({done} already in the store, resumed)" if done else "")
                      + f" — executor {args.executor}" + (", vectorized" if args.vectorize else ""))
        print_solo_note(console, configs, args.vectorize)
        with progress_bar(console) as progress:
            bar = progress.add_task(f"sweep: 0/{len(todo)} trials", total=sum(t.config.epochs for t in todo))
            tracker = _progress(progress, bar)

            def on_result(trial: Trial, result: RunResult) -> None:
                tracker.done(trial, len(todo))
                if not args.quiet:
                    console.print(_run_line(spec, trial, result), highlight=False)

            outcome = executor.run(opened.trials, store=store, experiment_id=experiment_id, splits=splits,
                                   on_result=on_result, callbacks=tracker.live, on_wait=waiting_note(console))
        print_outcome(console, outcome)
        show_summary(console, store, experiment_id, spec, args.json)
        console.print(stored_line(experiment_id, store.path))
    return 0


def show_summary(console: Console, store: Store, experiment_id: int, spec: SweepSpec, json_path: str | None) -> None:
    from rich.markup import escape

    from descentlab.cli.output import experiment_json, print_table, write_json
    from descentlab.report import data as report_data
    from descentlab.report.sweep import best_per_optimizer, sensitivity_table, sweep_json, sweep_rows
    from descentlab.report.tables import tuning_table

    rows = sweep_rows(report_data.load(store, experiment_id))
    print_table(console, tuning_table([r.summary for r in rows], [r.label for r in rows], warnings=False))
    print_table(console, sensitivity_table(rows))
    for row in rows:  # printed as lines of their own, not in the table's faint caption
        if row.edge_warning:
            console.print(f"[yellow]warning[/]: {escape(row.edge_warning)}", highlight=False)
    best = best_per_optimizer(rows)
    if any(r.extras or r.summary.schedule for r in rows):
        for optimizer, row in best.items():
            s = row.summary
            scores = ((f"val loss {s.best_val_loss.format('.4g')}, test loss {s.test_loss_at_best.format('.4g')}")
                      if s.metric == "loss" else (f"val {s.best_val_acc.format('.1f', scale=100, unit='%')}, test "
                                                  f"{s.test_acc_at_best.format('.1f', scale=100, unit='%')}"))
            console.print(f"Best {optimizer} on validation: {row.label} at lr {s.best_lr:.4g} — {scores}",
                          highlight=False)
    if json_path:
        payload = experiment_json(store, experiment_id, [])
        keys = {run.id: run.trial_key for run in store.runs(experiment_id)}
        names = [name for name, _ in spec.grid]
        for entry in payload["runs"]:
            hyper = entry["config"].get("hyperparameters", {})
            schedule = entry["config"].get("schedule")
            entry.update(trial_key=keys[entry["run_id"]], lr=hyper.get("lr"),
                         variant=scheduled_label(variant_label(entry["optimizer"], extras_of(hyper, names)),
                                                 schedule.get("label") if isinstance(schedule, dict) else None))
        payload.update(spec=spec.to_dict(), **sweep_json(rows))
        write_json(json_path, payload)

