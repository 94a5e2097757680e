"""The whole built-in benchmark at a small budget, timed, with the vectorized trainer's speed-up over one-by-one
training measured in the same run.

    python benchmarks/benchmark_cmd.py                                  # the README's benchmark, both ways
    python benchmarks/benchmark_cmd.py --tasks digits-mlp --budget 1,2 --seeds 2   # a quick check
    python benchmarks/benchmark_cmd.py --figure docs/benchmark_profile.png --json out.json

Runs ``descentlab benchmark`` as a subprocess twice on the same arguments — vectorized (the default) and
``--no-vectorize`` — each into a fresh temporary store, and times each end to end (the wall time of the whole
process: start-up, data loading, every tuning and evaluation run, the store, the summary). Prints both times, the
speed-up, the load average around each, and whether the two executions selected the same trials (a vectorized
pass is not bitwise equal to the single-run loop, so a near tie on validation may select differently).
``--figure`` writes the vectorized run's performance profile (the report's figure) as a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = "digits-mlp,mnist1d-mlp"  # the built-in CPU tasks that need no download and train in minutes
OPTIMIZERS = "sgd,nesterov,adam,rmsprop"


def _run(args: list[str], store: Path, out: Path, vectorize: bool) -> dict:
    command = [sys.executable, "-m", "descentlab", "benchmark", *args, "--store", str(store), "--json", str(out),
               "--quiet", "--vectorize" if vectorize else "--no-vectorize"]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return {"seconds": seconds, "load_before": load, "load_after": os.getloadavg()[0], "stdout": proc.stdout,
            "result": json.loads(out.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument("--optimizers", default=OPTIMIZERS)
    parser.add_argument("--budget", default="1,4")
    parser.add_argument("--seeds", default="2")
    parser.add_argument("--epochs", help="epochs per run, every task (default: each task's)")
    parser.add_argument("--skip-one-by-one", action="store_true", help="time the vectorized run only")
    parser.add_argument("--one-by-one-first", action="store_true",
                        help="run the one-by-one benchmark first (two runs in opposite orders balance a load that "
                        "drifts)")
    parser.add_argument("--figure", type=Path, help="write the performance profile here (PNG)")
    parser.add_argument("--json", type=Path, help="write the timings and both results here")
    parser.add_argument("--keep", type=Path, help="keep the stores in this folder")
    a = parser.parse_args()
    args = ["--tasks", a.tasks, "--optimizers", a.optimizers, "--budget", a.budget, "--seeds", a.seeds,
            *(["--epochs", a.epochs] if a.epochs else [])]
    folder = a.keep or Path(tempfile.mkdtemp(prefix="benchmark-cmd-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"descentlab benchmark {' '.join(args)}  (stores in {folder})", flush=True)
    modes = [] if a.skip_one_by_one else ["one-by-one"]
    modes = [*modes, "vectorized"] if a.one_by_one_first else ["vectorized", *modes]
    timings = {}
    for mode in modes:
        timings[mode] = _run(args, folder / f"{mode}.sqlite", folder / f"{mode}.json", mode == "vectorized")
        print(f"{mode}: {timings[mode]['seconds']:.1f} s", flush=True)
    print(timings["vectorized"]["stdout"], flush=True)
    if not a.skip_one_by_one:
        v, o = (timings[k]["result"] for k in ("vectorized", "one-by-one"))
        same = [(c["task"], c["optimizer"], c["budget"]) for c, d in zip(v["cells"], o["cells"])
                if c["selected"] == d["selected"]]
        speedup = timings["one-by-one"]["seconds"] / timings["vectorized"]["seconds"]
        print(f"speed-up of the vectorized trainer: {speedup:.2f}×"
              f"; the same trial selected in {len(same)} of {len(v['cells'])} (task, optimizer, budget) cells",
              flush=True)
    for name, t in timings.items():
        print(f"{name}: load average {t['load_before']:.2f} before, {t['load_after']:.2f} after", flush=True)
    if a.figure:
        from descentlab.report.benchmark import analyse, profile_figure
        from descentlab.report.data import load
        from descentlab.report.style import optimizer_colors
        from descentlab.store import Store

        with Store(folder / "vectorized.sqlite", read_only=True) as store:
            bench = analyse(load(store, "last"))
        profile_figure(bench, optimizer_colors(bench.optimizers)).savefig(a.figure, dpi=100, facecolor="white")
        print(f"wrote {a.figure}")
    if a.json:
        a.json.write_text(json.dumps({k: {kk: vv for kk, vv in t.items() if kk != "stdout"}
                                      for k, t in timings.items()}, indent=1, default=str))


if __name__ == "__main__":
    main()
