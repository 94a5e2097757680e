"""Before/after check of a change to the trainers: the same training, timed under two source trees, interleaved.

    .venv/bin/python benchmarks/trainer_ab.py --before /path/to/old/checkout --after . [--rounds 5]
                                              [--task fashion-mlp] [--epochs 2]

Each round runs, in a fresh subprocess per tree (alternating which goes first), with one torch thread:

- ``single``: one Adam run of the task (default the MNIST-1D MLP; ``descentlab.train.train``, batch 32) — the
  single-run loop; the figure is the median training seconds per epoch (evaluation excluded);
- ``vectorized``: 8 Adam learning rates of the same task in one vectorized pass (``train_vectorized``) — the
  figure is the pass's median training seconds per epoch.

It prints, per measurement, both trees' medians over rounds and the ratio after / before (below 1: the change
made it faster). MNIST-1D is generated locally, so nothing is downloaded; ``--task fashion-mlp`` (longer epochs,
steadier timings) reads Fashion-MNIST where descentlab finds it. Only ``src/`` of each tree is used
(``PYTHONPATH``), with this interpreter's packages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, statistics, sys, torch
torch.set_num_threads(1)
from descentlab.train import RunConfig, train
from descentlab.train.vectorized import train_vectorized
what, task, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "single":
    r = train(RunConfig.build(task, "adam", {"lr": 3e-3}, epochs=epochs, batch_size=32))
    print(json.dumps(statistics.median(e["seconds"] for e in r.epochs)))
else:
    configs = [RunConfig.build(task, "adam", {"lr": lr}, epochs=epochs, batch_size=32)
               for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)]
    rs = train_vectorized(configs)
    print(json.dumps(statistics.median(e["seconds"] for e in rs[0].epochs)))
"""


def measure(tree: Path, what: str, task: str, epochs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, what, task, str(epochs)], env=env, capture_output=True,
                         text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.task}, {args.epochs} epochs, load at start {os.getloadavg()}")
    for what in ("single", "vectorized"):
        times: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for side in order:
                times[side].append(measure(getattr(args, side), what, args.task, args.epochs))
        b, a = statistics.median(times["before"]), statistics.median(times["after"])
        rounds = {side: [round(t, 3) for t in ts] for side, ts in times.items()}
        print(f"{what:10s} s/epoch before {b:.3f}  after {a:.3f}  after/before {a / b:.3f}   (rounds: {rounds})")
    print(f"load at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
