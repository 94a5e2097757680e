"""How long the command line takes to answer what needs no training: help, `list`, an argument error.

Before and after, side by side in one run: "before" is the package at a git revision (default e764813, main
before the command table was declared and the command modules' imports made lazy), extracted with `git archive`
into a temporary folder; "after" is this checkout's src/. Each command runs as a fresh process
(``python -m descentlab ...``, PYTHONPATH set to the version's src/), the two versions interleaved, ``--repeats``
times each; the table shows the median wall time of each, and after / before.

    python benchmarks/cli_startup.py                     # options: --before REV, --repeats N, --json FILE
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    ("descentlab --help", ["--help"]),
    ("descentlab list", ["list"]),
    ("descentlab compare --help", ["compare", "--help"]),
    ("descentlab sweep --help", ["sweep", "--help"]),
    ("compare --bogus (argparse error)", ["compare", "--bogus"]),
    ("compare --optimizers adma (bad name)", ["compare", "--optimizers", "adma"]),
    ("trace --function rosenbrok (bad name)", ["trace", "--function", "rosenbrok"]),
    ("python -c 'import sys' (the floor)", None),
)


def extract(revision: str, into: Path) -> Path:
    """The package's src/ at ``revision`` (``git archive``: the repository is left as it is)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


def once(src: Path, argv: list[str] | None) -> tuple[float, int]:
    """Wall seconds of one fresh process, and its exit code."""
    env = {**os.environ, "PYTHONPATH": str(src), "DESCENTLAB_STORE": os.devnull + ".none"}
    command = [sys.executable, "-m", "descentlab", *argv] if argv is not None else [sys.executable, "-c", "import sys"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="e764813", help="git revision of 'before' (default e764813)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command per version (default 7)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    print(f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average "
          f"{os.getloadavg()[0]:.2f} at the start; {args.repeats} runs each, interleaved")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"before": extract(args.before, Path(tmp)), "after": ROOT / "src"}
        for label, argv in COMMANDS:
            times: dict[str, list[float]] = {"before": [], "after": []}
            codes: dict[str, int] = {}
            for _ in range(args.repeats):
                for name, src in versions.items():
                    seconds, codes[name] = once(src, argv)
                    times[name].append(seconds)
            before, after = statistics.median(times["before"]), statistics.median(times["after"])
            rows.append({"command": label, "before_s": before, "after_s": after, "ratio": after / before,
                         "exit_before": codes["before"], "exit_after": codes["after"]})
    print(f"\n| {'command':<40} | before (s) | after (s) | after / before | exit codes |")
    print(f"|{'-' * 42}|-----------:|----------:|---------------:|-----------:|")
    for r in rows:
        print(f"| {r['command']:<40} | {r['before_s']:10.3f} | {r['after_s']:9.3f} | {r['ratio']:14.2f} | "
              f"{r['exit_before']} → {r['exit_after']:<5} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps({"before": args.before, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
