"""``descentlab export [EXPERIMENT|last] --tensorboard DIR --csv FILE --parquet FILE``: a stored experiment where
users already look at runs. Reads the store only; each output is checked (and its library found) before anything
is read or written."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from descentlab.cli import flags
from descentlab.errors import UserError
from descentlab.validation import check_output

EXAMPLES = """examples:
  descentlab export --tensorboard runs/                # the latest experiment; then: tensorboard --logdir runs/
  descentlab export 3 --csv exp3.csv --parquet exp3.parquet
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_experiment(parser, "last", "default: last")
    parser.add_argument("--tensorboard", type=Path, metavar="DIR", help="write one TensorBoard run per run under "
                        "DIR/<kind>-<id>/ (scalars per epoch and per update, hyperparameters for the HParams tab)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write one row per run and epoch to this CSV")
    parser.add_argument("--parquet", type=Path, metavar="FILE", help="write the same rows to this Parquet file")
    flags.add_store(parser)


def _check_folder(folder: Path) -> None:
    parent = folder.parent if str(folder.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--tensorboard {folder}: it is a file; give a folder")
    if not folder.exists() and not parent.is_dir():
        raise UserError(f"--tensorboard {folder}: folder {parent} does not exist")


def run(args: argparse.Namespace) -> int:
    from descentlab.cli.report import open_store
    from descentlab.store.export import optional

    if args.tensorboard is None and args.csv is None and args.parquet is None:
        raise UserError("say what to write: --tensorboard DIR, --csv FILE and/or --parquet FILE")
    check_output(args.csv, "csv", (".csv",))
    check_output(args.parquet, "parquet", (".parquet",))
    if args.parquet is not None:
        optional("pandas", "--parquet")
        optional("pyarrow", "--parquet")
    if args.tensorboard is not None:
        _check_folder(args.tensorboard)
        optional("tensorboard", "--tensorboard")
    with open_store(args.store) as store:
        if args.tensorboard is not None:
            from descentlab.report.data import load
            from descentlab.report.tensorboard import write_tensorboard

            data = load(store, args.experiment)
            exp = data.experiment
            folder = args.tensorboard / f"{exp.kind}-{exp.id}"
            if folder.exists():
                raise UserError(f"--tensorboard {args.tensorboard}: {folder} is already there (exported before); "
                                "remove it or give another folder")
            # Written under a temporary name and renamed when whole: an interrupted export leaves no half folder
            # that the next export would refuse as "exported before" (a leftover .part is an interrupted one).
            part = folder.with_name(folder.name + ".part")
            shutil.rmtree(part, ignore_errors=True)
            part.mkdir(parents=True)  # (an experiment with no runs yet exports as an empty folder)
            runs = write_tensorboard(data, part)
            part.rename(folder)
            print(f"wrote {len(runs)} TensorBoard runs under {folder}: tensorboard --logdir {args.tensorboard}")
        if args.csv is not None:
            store.to_csv(args.csv, args.experiment)
            print(f"wrote {args.csv}")
        if args.parquet is not None:
            store.to_parquet(args.parquet, args.experiment)
            print(f"wrote {args.parquet}")
    return 0
