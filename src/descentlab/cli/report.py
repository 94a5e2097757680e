"""``descentlab report [EXPERIMENT|last] --html out.html [--md out.md]``: the report of one experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from descentlab.cli import flags
from descentlab.errors import UserError
from descentlab.files import write_atomic
from descentlab.validation import check_output

EXAMPLES = """examples:
  descentlab report --html report.html            # the latest experiment
  descentlab report 3 --md report.md              # experiment 3 as Markdown, its figures in report_files/
  descentlab report last --html r.html --store /tmp/runs.sqlite
  descentlab report 3 --toml spec.toml            # its spec file: descentlab compare --spec spec.toml reruns it
"""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_experiment(parser, "last", "default: last")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    parser.add_argument("--md", type=Path, metavar="FILE", help="write Markdown here, its PNGs in FILE_files/")
    parser.add_argument("--toml", metavar="FILE", help="write the experiment's spec file here ('-': standard "
                        "output), to rerun it with `descentlab compare|sweep --spec FILE`")
    flags.add_store(parser)


def open_store(path: Path | None):
    """The store at ``path`` (default path when None), which must exist: a read-only command never makes one."""
    from descentlab.store import Store, default_store_path

    path = Path(path or default_store_path())
    if not path.is_file():
        raise UserError(f"no results store at {path}; run `descentlab compare` first or pass --store PATH")
    return Store(path, read_only=True)


def write_spec(experiment, path: str) -> None:
    """The experiment's spec file (:mod:`descentlab.specfile`) to ``path``, or standard output for ``-``."""
    from descentlab.specfile import to_toml

    text = to_toml(experiment.kind, experiment.spec)
    if text is None:
        raise UserError(f"experiment {experiment.id} is of kind {experiment.kind}: only compare, sweep and benchmark "
                        "have spec files")
    if path == "-":
        print(text, end="")
    else:
        write_atomic(path, text, "--toml")
        print(f"wrote {path}")


def write_report(store, experiment: int | str, html_path: Path | None, md_path: Path | None) -> list[Path]:
    """Build the report of ``experiment`` (an id or 'last') in ``store`` once and write it as HTML and/or Markdown
    (paths already checked with ``check_output``); print and return the paths written."""
    from descentlab.report import by_kind, html
    from descentlab.report.data import load

    report = by_kind.build(store, load(store, experiment))
    written = []
    for path, write in ((html_path, html.write_html), (md_path, html.write_markdown)):
        if path is not None:
            written.append(write(report, path))
            print(f"wrote {written[-1]}")
    return written


def run(args: argparse.Namespace) -> int:
    toml = getattr(args, "toml", None)
    if args.html is None and args.md is None and toml is None:
        raise UserError("say where to write the report: --html FILE and/or --md FILE (or --toml FILE, its spec)")
    check_output(args.html, "html")  # before reading anything
    check_output(args.md, "md")
    check_output(None if toml == "-" else toml, "toml", (".toml",))
    with open_store(args.store) as store:
        if toml is not None:
            write_spec(store.experiment(args.experiment), toml)
        if args.html is not None or args.md is not None:
            write_report(store, args.experiment, args.html, args.md)
    return 0
