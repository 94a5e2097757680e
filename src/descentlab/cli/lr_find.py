"""``descentlab lr-find``: the learning-rate range test over seeds, and a suggested range of learning rates."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from descentlab.cli.common import optimizer_items
from descentlab.cli.output import make_console, print_table, progress_bar, write_json
from descentlab.cli.task_args import add_task_arguments, task_from
from descentlab.errors import UserError
from descentlab.experiments import lr_find as lf
from descentlab.lr_range import LRFindResult
from descentlab.validation import check_output, parse_batch_sizes, parse_float, parse_positive_int

NAME = "lr-find"
HELP = "LR range test (Smith 2017): raise the lr exponentially, batch by batch, over seeds; suggest a range."


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_task_arguments(p, None)
    p.add_argument("--optimizer", required=True, help="optimizer name (see `descentlab list`)")
    p.add_argument("--seeds", default="3", help="number of seeds: init and data order (default 3)")
    p.add_argument("--start", default="1e-7", help="first learning rate (default 1e-7)")
    p.add_argument("--end", default="10", help="last learning rate (default 10)")
    p.add_argument("--steps", default="100", help="mini-batches at most, ≥ 2 (default 100)")
    p.add_argument("--batch-size", help="B or 'full' (default: the preset's, else the task's)")
    p.add_argument("--preset", default="torch", choices=("torch", "keras"), help="defaults to start from")
    p.add_argument("--png", help="write the figure here (.png or .svg)")
    p.add_argument("--json", help="write the numbers as JSON here ('-': standard output, the rest to stderr)")
    p.add_argument("--store", help="SQLite results store (default: $DESCENTLAB_STORE or ~/.local/share/descentlab)")
    p.add_argument("--data-dir", help="where MNIST / Fashion-MNIST files are (else searched and downloaded)")


def _one_optimizer(text: str) -> str:
    items = optimizer_items(text)
    if len(items) != 1:
        raise UserError(f"--optimizer {text!r}: lr-find tests one optimizer at a time")
    return items[0]


def spec_from(args: argparse.Namespace) -> lf.LRFindSpec:
    batch = parse_batch_sizes(args.batch_size) if args.batch_size else None
    if batch and len(batch) > 1:
        raise UserError(f"--batch-size {args.batch_size!r}: lr-find takes one batch size")
    steps = parse_positive_int(args.steps, "steps")
    return lf.LRFindSpec(task=task_from(args, None), optimizer=_one_optimizer(args.optimizer),
                         seeds=parse_positive_int(args.seeds, "seeds"), start=parse_float(args.start, "start"),
                         end=parse_float(args.end, "end"), steps=steps, batch_size=batch[0] if batch else None,
                         preset=args.preset, data_dir=args.data_dir)


def print_result(console: Console, result: LRFindResult) -> None:
    """Each seed's own suggestion (the report's table), how far they spread, and the suggested range."""
    from descentlab.report.lr_find_report import seed_table

    print_table(console, seed_table(result))
    own = [c.suggestion.lr for c in result.curves if c.suggestion.lr is not None]
    mins = [c.suggestion.min_lr for c in result.curves if c.suggestion.min_lr is not None]
    if len(result.curves) > 1 and own:
        console.print(f"Across seeds: suggested lr {min(own):.3g} … {max(own):.3g}, "
                      f"min lr {min(mins):.3g} … {max(mins):.3g}")
    s = result.suggestion
    if s.lower is None:
        console.print(f"[bold]No suggestion[/]: {s.note}")
        return
    console.print(f"Median of the seeds' zero-phase curves: minimum {s.min_loss:.3f} at lr {s.min_lr:.3g}, "
                  f"steepest descent at {s.steepest_lr:.3g}")
    console.print(f"[bold]Suggested lr: {s.lr:.3g}, range {s.lower:.3g} … {s.upper:.3g}[/] "
                  f"(lr = the steepest descent, range lr/{lf.RANGE_FACTOR:g} … lr)")
    if s.note:
        console.print(f"note: {s.note}")


def run(args: argparse.Namespace) -> int:
    from descentlab.environment import environment
    from descentlab.store import Store

    console = make_console(stderr=args.json == "-")  # --json -: standard output holds the JSON alone
    spec = spec_from(args)
    task, optimizer, _, batch_size, _ = spec.resolve()  # every name and value checked before anything runs
    check_output(args.png, "png", (".png", ".svg"))  # fail before training, not after
    check_output(None if args.json == "-" else args.json, "json")
    splits = task.load(data_dir=spec.data_dir)
    console.print(f"[bold]{task.name}[/]: lr range test of {optimizer}, lr {spec.start:g} → {spec.end:g} over "
                  f"≤ {spec.steps} steps of batch {batch_size}, {spec.seeds} seed(s)")
    with Store(args.store) as store, progress_bar(console, "steps") as progress:
        bar = progress.add_task("lr-find", total=spec.seeds * spec.steps)  # a seed that stops early ends short
        on_step = lambda k: progress.advance(bar)  # noqa: E731
        result, experiment_id = lf.run(spec, splits=splits, store=store, env=environment(), on_step=on_step)
        store_path = store.path
    print_result(console, result)
    if args.png:
        from descentlab.report.lr_find_plot import lr_find_figure
        from descentlab.report.plots import save

        console.print(f"wrote {escape(str(save(lr_find_figure(result), args.png)))}")
    if args.json:
        write_json(args.json, {"experiment_id": experiment_id, "store": str(store_path), **result.to_dict()})
        console.print(f"wrote {escape(args.json)}")
    console.print(f"Stored as experiment {experiment_id} in {escape(str(store_path))}")
    return 0
