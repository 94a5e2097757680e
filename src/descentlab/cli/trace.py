"""``descentlab trace``: optimizer paths on a 2-D (or 1-D) test function, as a table, a picture and a GIF."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from descentlab.catalogue import function_names
from descentlab.cli import flags
from descentlab.cli.common import check_names, optimizer_items
from descentlab.errors import UserError
from descentlab.schedules import SCHEDULES
from descentlab.schedules.spec import parse_schedule
from descentlab.validation import (
    check_output,
    finite_point,
    parse_float,
    parse_list,
    parse_positive_float,
    parse_positive_int,
)

if TYPE_CHECKING:  # the heavy modules (torch, rich) are imported by run(), so that --help answers at once
    from rich.console import Console

    from descentlab.tasks.functions import TestFunction

# The tracer's default (descentlab.experiments.trace.DEFAULT_STEPS, which tests/cli/test_flags.py checks equal),
# shown in --help without importing the tracer (and torch).
DEFAULT_STEPS = 500
EXAMPLES = """examples:
  descentlab trace                                     # sgd, momentum, adam on Rosenbrock, each at its best lr
  descentlab trace --function beale --optimizers adam,rmsprop --png beale.png --gif beale.gif
  descentlab trace --function quadratic --optimizers sgd --lr 0.01,0.05,0.079 --steps 100
  descentlab trace --html trace.html                   # an interactive page with sliders
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what to trace")
    what.add_argument("--function", default="rosenbrock", help=f"one of {', '.join(function_names())}")
    flags.add_optimizers(what, "sgd,momentum,adam", hyperparameters=False)  # trace sets the lr itself
    what.add_argument("--steps", default=str(DEFAULT_STEPS), help=f"updates per optimizer (default {DEFAULT_STEPS})")
    what.add_argument("--lr", help="learning rate(s) for all, e.g. --lr 0.01,0.1,0.5,1.05 overlays one path per "
                                   "rate (default: each optimizer's best of 1e-4 … 1)")
    what.add_argument("--schedule", help="learning-rate schedule of every path: NAME or 'NAME(key=value,...)', one "
                      "of " + ", ".join(SCHEDULES) + "; its peak is the lr and its horizon --steps unless given, "
                      "e.g. 'cosine(warmup_steps=0.1)' (default: a constant lr)")
    what.add_argument("--start", help="start point, e.g. --start=-1.5,2 (default: the function's)")
    out = p.add_argument_group("output")
    out.add_argument("--png", metavar="FILE", help="write the contour plot here (.png or .svg)")
    out.add_argument("--gif", metavar="FILE", help="write an animated GIF of the paths here (.gif)")
    out.add_argument("--html", type=Path, metavar="FILE", help="write an interactive offline page here: sliders "
                     "for the learning rate, momentum or β and the step over paths precomputed for the page's own "
                     "functions (--function first) and optimizers, up to 200 steps")
    flags.add_verbose(out)


def run(args: argparse.Namespace) -> int:
    check_names(args)  # a misspelt name answers before torch starts
    from rich.markup import escape

    from descentlab import optim
    from descentlab.cli.output import make_console, print_table
    from descentlab.experiments import trace as search
    from descentlab.optim import external
    from descentlab.report import trace as tr
    from descentlab.tasks.functions import get_function

    function = get_function(args.function)
    names = []
    for item in optimizer_items(args.optimizers):
        name, given = external.parse_item(item)
        if given:
            raise UserError(f"--optimizers {item!r}: trace sets the learning rate with --lr (or picks it); give "
                            "optimizers by name, module:Name or file.py:Name")
        names.append(optim.get(name).name)  # unknown names fail before any work
    steps = parse_positive_int(args.steps, "steps")
    lrs = None if args.lr is None else [parse_positive_float(v, "lr") for v in parse_list(args.lr, "lr")]
    start = None if args.start is None else finite_point(
        [parse_float(v, "start") for v in parse_list(args.start, "start")], "--start")
    check_output(args.png, "png", (".png", ".svg"))  # before computing, not after
    check_output(args.gif, "gif", (".gif",))
    html = check_output(args.html, "html")
    schedule = None
    if args.schedule is not None:
        schedule = parse_schedule(args.schedule)
        schedule.resolve((lrs or [1.0])[0], steps)  # a parameter the schedule refuses fails here, before any path
    traced = search.trace(function, names, steps=steps, lr=lrs, start=start, schedule=schedule)
    console = make_console()
    if args.verbose:
        for t in traced:
            if len(traced) > 1:
                print(f"{t.label}:")
            print("\n".join(tr.verbose_lines(t)))
    if schedule is not None:
        console.print(f"schedule {schedule.label}: its peak is each path's lr, over {steps} steps", highlight=False)
    print_table(console, tr.summary_table(function, traced))
    for warning in search.edge_warnings(traced):
        console.print(warning, markup=False, highlight=False, soft_wrap=True)
    if args.png:
        from descentlab.report.plots import save

        save(tr.plot_paths(function, traced), args.png)  # written whole or not at all
        console.print(f"wrote {escape(args.png)}")
    if args.gif:
        from descentlab.report.trace_gif import save_gif

        save_gif(function, traced, args.gif)
        console.print(f"wrote {escape(args.gif)}")
    if html is not None:
        _write_page(function, steps, html, console)
    return 0


def _write_page(function: TestFunction, steps: int, path: Path, console: Console) -> None:
    """The interactive page: ``function`` first (when 2-D) and the page's other functions, min(steps, 200) steps."""
    from descentlab.experiments import trace_page
    from descentlab.report import trace_html

    functions = list(dict.fromkeys([function.name] * (function.dim == 2) + list(trace_page.PAGE_FUNCTIONS)))
    paths = trace_page.page_paths(functions, steps=min(steps, trace_page.MAX_STEPS))
    data = trace_html.page_data(paths.functions, paths.lrs, dict(paths.knobs), paths.steps, paths.paths)
    trace_html.write_page(data, path)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB: {paths.n_points} points)")
