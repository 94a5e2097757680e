"""``descentlab compare``: train several optimizers side by side on one task and say which won, at what cost."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from descentlab.cli import flags
from descentlab.cli.common import check_names, optimizer_items
from descentlab.cli.report import write_report
from descentlab.cli.spec_option import add_spec_argument, apply_spec_file
from descentlab.cli.task_args import add_task_arguments, task_from
from descentlab.schedules.spec import SCHEDULE_HELP, schedule_list
from descentlab.validation import (
    check_batch_sizes,
    check_output,
    parse_batch_sizes,
    parse_positive_float,
    parse_positive_int,
)

if TYPE_CHECKING:  # the heavy modules (torch, rich) are imported by run(), so that --help answers at once
    from rich.console import Console

    from descentlab.experiments.compare import CompareSpec
    from descentlab.store import Store

EXAMPLES = """examples:
  descentlab compare                                   # sgd, adam, rmsprop on MNIST-1D (offline)
  descentlab compare --optimizers sgd,momentum,adam --seeds 3
  descentlab compare --task mnist-mlp --optimizers 'sgd(lr=0.1),adam' --batch-size full,32
  descentlab compare --schedule constant,'cosine(warmup_steps=0.1)' --json - | jq .runs
  descentlab compare --spec exp.toml --seeds 3         # a spec file (descentlab report N --toml); flags win
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what to train")
    add_task_arguments(what, "mnist1d-mlp")
    flags.add_data_dir(what)
    how = p.add_argument_group("optimizers and hyperparameters")
    flags.add_optimizers(how, "sgd,adam,rmsprop")
    how.add_argument("--lr", help="learning rate for every optimizer (default: the preset's)")
    how.add_argument("--schedule", help=SCHEDULE_HELP + " (default: a constant lr)")
    how.add_argument("--epochs", help="epochs per run (default: the task's)")
    how.add_argument("--batch-size", help="B, 1, 'full' or a list such as full,1,32 (default: the preset's/task's)")
    flags.add_seeds(how, 1)
    flags.add_preset(how)
    run_ = p.add_argument_group("execution")
    flags.add_device(run_)
    flags.add_vectorize(run_)
    flags.add_fresh(run_)
    out = p.add_argument_group("output")
    flags.add_store(out)
    flags.add_json(out)
    out.add_argument("--html", type=Path, metavar="FILE", help="when done, write the experiment's report here "
                     "(one self-contained HTML file; the same as `descentlab report ID --html FILE`)")
    out.add_argument("--md", type=Path, metavar="FILE", help="when done, write the report as Markdown here, its "
                     "figures as PNGs in FILE_files/")
    flags.add_quiet(out)
    add_spec_argument(p)  # last: it learns the flags above


def spec_from(args: argparse.Namespace) -> CompareSpec:
    check_names(args)  # a misspelt name answers before torch starts
    from descentlab.experiments.compare import CompareSpec
    return CompareSpec(
        task=task_from(args, "mnist1d-mlp"),  # names are case-insensitive: stored as the registry spells them
        optimizers=optimizer_items(args.optimizers),
        epochs=parse_positive_int(args.epochs, "epochs") if args.epochs else None,
        batch_sizes=tuple(parse_batch_sizes(args.batch_size)) if args.batch_size else None,
        lr=parse_positive_float(args.lr, "lr") if args.lr else None,
        seeds=parse_positive_int(args.seeds, "seeds"),
        preset=args.preset,
        data_dir=args.data_dir,
        schedules=tuple(s.label for s in schedule_list(args.schedule)) if args.schedule else (),
    )


def run(args: argparse.Namespace) -> int:
    apply_spec_file(args)  # --spec FILE.toml: the file's values, then the flags given
    spec = spec_from(args)
    from rich.markup import escape

    from descentlab.cli.output import (
        EpochPrinter,
        experiment_json,
        label_of,
        make_console,
        print_finished_run,
        print_outcome,
        print_solo_note,
        progress_bar,
        stored_line,
        waiting_note,
        write_json,
    )
    from descentlab.experiments.executors import make_executor
    from descentlab.experiments.runner import Trial, open_experiment
    from descentlab.store import Store
    from descentlab.tasks import get_task
    from descentlab.train import RunResult

    console = make_console(stderr=args.json == "-")  # --json -: standard output holds the JSON alone
    configs = spec.configs()  # every name and value checked before anything runs
    flags.check_json(args)
    check_output(args.html, "html")
    check_output(args.md, "md")
    executor = make_executor("local", vectorize=args.vectorize, device=args.device)

    splits = get_task(spec.task).load(data_dir=spec.data_dir, val_fraction=configs[0].val_fraction,
                                      seed=configs[0].data_seed)
    check_batch_sizes({c.batch_size for c in configs}, splits.x_train.shape[0])
    with Store(args.store) as store:
        opened = open_experiment(store, "compare", spec.to_dict(), configs, fresh=args.fresh, splits=splits,
                                 execution=executor.identity())
        experiment_id, todo, done = opened.experiment_id, opened.todo, opened.done
        scheduled = f" × schedules {', '.join(spec.to_dict()['schedules'])}" if spec.schedules else ""
        console.print(f"[bold]{spec.task}[/]: {escape(', '.join(spec.optimizers) + scheduled)} — {len(configs)} runs"
                      + (f" ({done} already in the store, resumed)" if done else "")
                      + f" — {splits.x_train.shape[0]} train / {splits.x_val.shape[0]} val / "
                        f"{splits.x_test.shape[0]} test examples")
        print_solo_note(console, configs, args.vectorize)
        many_batches = len({c.batch_size for c in configs}) > 1
        label = lambda t: label_of(t.config, batch=many_batches, seed=spec.seeds > 1)  # noqa: E731
        with progress_bar(console) as progress:
            bar = progress.add_task("compare", total=sum(t.config.epochs for t in todo))
            live: set[str] = set()

            def callbacks(trial: Trial) -> list[EpochPrinter]:
                live.add(trial.key)
                return [EpochPrinter(console, progress, bar, trial, label(trial), verbose=not args.quiet)]

            def on_result(trial: Trial, result: RunResult) -> None:
                if trial.key not in live or result.status == "failed":  # a vectorized group's, or one that raised
                    progress.advance(bar, trial.config.epochs - (0 if trial.key not in live else len(result.epochs)))
                    print_finished_run(console, label(trial), result, verbose=not args.quiet and trial.key not in live)

            outcome = executor.run(opened.trials, store=store, experiment_id=experiment_id, splits=splits,
                                   on_result=on_result, callbacks=callbacks, on_wait=waiting_note(console))
        print_outcome(console, outcome)
        groups = show_summary(console, store, experiment_id)
        if args.json:
            write_json(args.json, experiment_json(store, experiment_id, groups))
        console.print(stored_line(experiment_id, store.path))
        if args.html or args.md:
            with contextlib.redirect_stdout(sys.stderr) if args.json == "-" else contextlib.nullcontext():
                write_report(store, experiment_id, args.html, args.md)
    return 0


def show_summary(console: Console, store: Store, experiment_id: int) -> list:
    from rich.markup import escape

    from descentlab.cli.output import print_compare_summary
    from descentlab.report import data as report_data
    from descentlab.report.summary import group_labels, summarize
    from descentlab.report.tables import UNTUNED

    groups = summarize(report_data.load(store, experiment_id))
    print_compare_summary(console, groups)
    console.print(f"Protocol: {escape(UNTUNED)}.", highlight=False)
    names = dict(zip(map(id, groups), group_labels(groups)))
    by_loss = any(g.metric == "loss" for g in groups)  # regression: the lowest val loss wins
    finished = [g for g in groups if (g.final_val_loss if by_loss else g.final_val_acc).n]
    if finished and by_loss:
        best = min(finished, key=lambda g: g.final_val_loss.mean)
        console.print(f"Best on validation: [bold]{names[id(best)]}[/] (batch {best.batch_size}) with "
                      f"{best.final_val_loss.mean:.4g} final val loss; test loss {best.final_test_loss.mean:.4g}.")
    elif finished:
        best = max(finished, key=lambda g: g.final_val_acc.mean)
        console.print(f"Best on validation: [bold]{names[id(best)]}[/] (batch {best.batch_size}) with "
                      f"{best.final_val_acc.mean:.1%} final val acc; test {best.final_test_acc.mean:.1%}.")
    several = len({g.batch_size for g in groups}) > 1
    missed = [names[id(g)] + (f" (batch {g.batch_size})" if several else "")
              for g in groups if g.target is not None and not g.reached]
    if missed:
        console.print(f"Never reached the target: {', '.join(dict.fromkeys(missed))}.")
    return groups
