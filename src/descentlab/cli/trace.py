"""``descentlab trace``: optimizer paths on a 2-D (or 1-D) test function, as a table, a picture and a GIF."""

from __future__ import annotations

import argparse

from descentlab import optim
from descentlab.cli.common import optimizer_items, parse_float, parse_list, parse_positive_int
from descentlab.cli.output import make_console, print_table
from descentlab.errors import UserError
from descentlab.experiments import trace as search
from descentlab.optim import external
from descentlab.report import trace as tr
from descentlab.tasks.functions import function_names, get_function

NAME = "trace"
HELP = "Paths of optimizers on a test function (Rosenbrock, Beale, …): table, contour plot, GIF."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--function", default="rosenbrock", help=f"one of {', '.join(function_names())}")
    p.add_argument("--optimizers", default="sgd,momentum,adam", help="comma-separated registry names")
    p.add_argument("--steps", default=search.DEFAULT_STEPS,
                   help=f"updates per optimizer (default {search.DEFAULT_STEPS})")
    p.add_argument("--lr", help="one learning rate for all (default: each optimizer's best of 1e-4 … 1)")
    p.add_argument("--start", help="start point, e.g. --start=-1.5,2 (default: the function's)")
    p.add_argument("--png", help="write the contour plot here")
    p.add_argument("--gif", help="write an animated GIF of the paths here")
    p.add_argument("--verbose", action="store_true", help="print every iteration: x and f(x)")


def run(args: argparse.Namespace) -> int:
    function = get_function(args.function)
    names = []
    for item in optimizer_items(args.optimizers):
        name, given = external.parse_item(item)
        if given:
            raise UserError(f"--optimizers {item!r}: trace sets the learning rate with --lr (or picks it); give "
                            "optimizers by name, module:Name or file.py:Name")
        names.append(optim.get(name).name)  # unknown names fail before any work
    steps = parse_positive_int(args.steps, "steps")
    lr = None if args.lr is None else parse_float(args.lr, "lr")
    if lr is not None and not lr > 0:
        raise UserError(f"--lr {args.lr} must be > 0")
    start = None if args.start is None else [parse_float(v, "start") for v in parse_list(args.start, "start")]
    traced = search.trace(function, names, steps=steps, lr=lr, start=start)
    console = make_console()
    if args.verbose:
        for t in traced:
            if len(traced) > 1:
                print(f"{t.label}:")
            print("\n".join(tr.iteration_lines(t)))
    print_table(console, tr.summary_table(function, traced))
    if args.png:
        tr.plot_paths(function, traced).savefig(args.png)
        console.print(f"wrote {args.png}")
    if args.gif:
        from descentlab.report.trace_gif import save_gif

        save_gif(function, traced, args.gif)
        console.print(f"wrote {args.gif}")
    return 0
