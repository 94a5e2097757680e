"""``descentlab lr-find``: the learning-rate range test over seeds, and a suggested range of learning rates."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from descentlab.cli import flags
from descentlab.cli.common import check_names, optimizer_items
from descentlab.cli.task_args import add_task_arguments, task_from
from descentlab.errors import UserError
from descentlab.validation import check_output, parse_batch_sizes, parse_float, parse_positive_int, whole

if TYPE_CHECKING:  # the heavy modules (torch, rich) are imported by run(), so that --help answers at once
    from rich.console import Console

    from descentlab.experiments import lr_find as lf
    from descentlab.lr_range import LRFindResult

CHECK_STEPS_DEFAULT = 400  # descentlab.lr_range.CHECK_STEPS (a test checks they agree): --help stays light

EXAMPLES = """examples:
  descentlab lr-find --task mnist1d-mlp --optimizer adam
  descentlab lr-find --task mnist-mlp --optimizer 'sgd(momentum=0.9)' --seeds 5 --png lr.png
  descentlab lr-find --data my.csv --optimizer adamw --json - | jq .suggestion
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what to train")
    add_task_arguments(what, None)
    flags.add_data_dir(what)
    how = p.add_argument_group("the test")
    how.add_argument("--optimizer", required=True, metavar="NAME",
                     help="the optimizer: a name, NAME(key=value,...), module:Name or path/file.py:Name (names: "
                          "`descentlab list optimizers`)")
    flags.add_seeds(how, 3)
    how.add_argument("--start", default="1e-7", help="first learning rate (default 1e-7)")
    how.add_argument("--end", default="10", help="last learning rate (default 10)")
    how.add_argument("--steps", default="100", help="mini-batches at most, ≥ 2 (default 100)")
    how.add_argument("--batch-size", help="B or 'full' (default: the preset's, else the task's)")
    how.add_argument("--check-steps", default=str(CHECK_STEPS_DEFAULT), metavar="N",
                     help=f"updates of each short run at a constant rate that checks the range test's suggestion "
                          f"(7 rates × the seeds; default {CHECK_STEPS_DEFAULT}); 0: no check, the range test "
                          "alone")
    flags.add_preset(how)
    out = p.add_argument_group("output")
    out.add_argument("--png", metavar="FILE", help="write the figure here (.png or .svg)")
    flags.add_store(out)
    flags.add_json(out)


def _one_optimizer(text: str) -> str:
    items = optimizer_items(text)
    if len(items) != 1:
        raise UserError(f"--optimizer {text!r}: lr-find tests one optimizer at a time")
    return items[0]


def spec_from(args: argparse.Namespace) -> lf.LRFindSpec:
    check_names(args)  # a misspelt name answers before torch starts
    from descentlab.experiments import lr_find as lf
    batch = parse_batch_sizes(args.batch_size) if args.batch_size else None
    if batch and len(batch) > 1:
        raise UserError(f"--batch-size {args.batch_size!r}: lr-find takes one batch size")
    steps = parse_positive_int(args.steps, "steps")
    return lf.LRFindSpec(task=task_from(args, None), optimizer=_one_optimizer(args.optimizer),
                         seeds=parse_positive_int(args.seeds, "seeds"), start=parse_float(args.start, "start"),
                         end=parse_float(args.end, "end"), steps=steps, batch_size=batch[0] if batch else None,
                         preset=args.preset, data_dir=args.data_dir, check_steps=_check_steps(args.check_steps))


def _check_steps(text: str) -> int:
    """A whole number; 0 (in any spelling) and one below it are left to the spec, whose one message says what is
    allowed (0, or ≥ 4), rather than parse_positive_int's '≥ 1'."""
    value = whole(text)
    return value if value is not None and value <= 0 else parse_positive_int(text, "check-steps")


def print_result(console: Console, result: LRFindResult, stored_spec: dict | None = None) -> None:
    """Each seed's own suggestion (the report's table), how far they spread, and the suggested range;
    ``stored_spec``: the experiment's spec in the store (a user's task with where it came from)."""
    from descentlab.cli.output import print_table
    from descentlab.experiments import lr_find as lf
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
    if result.checked:
        from descentlab.report.lr_find_report import check_table

        print_table(console, check_table(result))
    if s.checked:
        console.print(f"[bold]Suggested lr: {s.lr:.3g}, range {s.lower:.3g} … {s.upper:.3g}[/] (the checked rate "
                      f"with the lowest training loss at the end of {result.spec.get('check_steps')} updates, "
                      f"averaged with its neighbours; range lr/{lf.RANGE_FACTOR:g} … lr)")
    else:
        console.print(f"[bold]Suggested lr: {s.lr:.3g}, range {s.lower:.3g} … {s.upper:.3g}[/] "
                      f"(lr = the steepest descent, range lr/{lf.RANGE_FACTOR:g} … lr; unchecked)")
    if s.note:
        console.print(f"note: {s.note}")
    # What the test is and is not: short runs, not the best rate of a long run (BENCHMARKS.md, "lr-find against a
    # sweep"). A sweep around it, as long as the real training, settles it.
    if result.spec.get("task"):
        import shlex

        from descentlab.specfile import task_flags  # a user's task by its file, as a spec file names it

        task = " ".join(f"--{flag} {shlex.quote(str(value))}"
                        for flag, value in task_flags(stored_spec or result.spec).items())
        console.print(f"To confirm over a long run: descentlab sweep {task} --optimizers "
                      f"{shlex.quote(str(result.optimizer))} "
                      f"--lr {s.lower / 3:.2g}..{s.upper * 3:.2g} --points 7 (lr-find's runs are short: the best "
                      "rate of a long run can differ)")


def run(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    from rich.markup import escape

    from descentlab.cli.output import make_console, progress_bar, write_json
    from descentlab.environment import environment
    from descentlab.experiments import lr_find as lf
    from descentlab.store import Store

    console = make_console(stderr=args.json == "-")  # --json -: standard output holds the JSON alone
    task, optimizer, _, batch_size, _ = spec.resolve()  # every name and value checked before anything runs
    check_output(args.png, "png", (".png", ".svg"))  # fail before training, not after
    flags.check_json(args)
    splits = task.load(data_dir=spec.data_dir)
    console.print(f"[bold]{task.name}[/]: lr range test of {optimizer}, lr {spec.start:g} → {spec.end:g} over "
                  f"≤ {spec.steps} steps of batch {batch_size}, {spec.seeds} seed(s)"
                  + (f"; then a check: 7 or more constant rates × {spec.seeds} seed(s) × {spec.check_steps} updates "
                     "(--check-steps 0: none)" if spec.check_steps else ""))
    with Store(args.store) as store, progress_bar(console, "steps") as progress:
        # the total grows as lr-find plans each round (the check's rounds depend on what it finds; a resumed
        # one trains only what is missing); a seed of the range test that stops early ends short of its share
        bar = progress.add_task("lr-find", total=0)
        on_step = lambda k: progress.advance(bar)  # noqa: E731
        planned = 0

        def on_plan(updates: int) -> None:
            nonlocal planned
            planned += updates
            progress.update(bar, total=planned)

        result, experiment_id = lf.run(spec, splits=splits, store=store, env=environment(), on_step=on_step,
                                       on_plan=on_plan)
        store_path = store.path
        failed = [r for r in store.runs(experiment_id) if r.status == "failed"]
        stored_spec = store.experiment(experiment_id).spec
    print_result(console, result, stored_spec)
    if failed:  # a seed or a check run whose optimizer raised: the suggestion's note alone does not say why
        import shlex

        console.print(f"{len(failed)} run{'s' if len(failed) > 1 else ''} failed (the first: "
                      f"{escape(str((failed[0].summary or {}).get('error', '?')))}); descentlab runs {experiment_id} "
                      f"--store {escape(shlex.quote(str(store_path)))} lists them, and the same lr-find again "
                      "tries them again")
    if args.png:
        from descentlab.report.lr_find_plot import lr_find_figure
        from descentlab.report.plots import save

        console.print(f"wrote {escape(str(save(lr_find_figure(result), args.png)))}")
    if args.json:
        write_json(args.json, {"experiment_id": experiment_id, "store": str(store_path), **result.to_dict()})
        if args.json != "-":  # on standard output the JSON is the whole of it: nothing to say where it went
            console.print(f"wrote {escape(args.json)}")
    console.print(f"Stored as experiment {experiment_id} in {escape(str(store_path))}")
    return 0
