"""Time one optimizer step on many parameters: descentlab's optimizers next to torch.optim's implementations.

For each optimizer, every variant (ours with its default path; torch's for-loop, foreach and, where torch has
it, fused) gets its own copy of the same parameters and gradients. After a warm-up, each round times one step of
every variant in a fresh random order (so drift in the machine's speed hits all variants alike); the table shows
the median over rounds and ours / (fastest torch variant).

    python benchmarks/optimizer_step.py                      # 10M float32 parameters in 100 tensors, CPU
    python benchmarks/optimizer_step.py --device cuda --rounds 50 --json step.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from descentlab import optim
from descentlab.errors import UserError

# name in the table -> (registry name, torch class, hyperparameters shared by ours and torch's)
OPTIMIZERS: dict[str, tuple[str, type[torch.optim.Optimizer], dict[str, Any]]] = {
    "SGD-momentum": ("momentum", torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
    "Adagrad": ("adagrad", torch.optim.Adagrad, {"lr": 1e-2}),
    "RMSprop": ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3}),
    "Adam": ("adam", torch.optim.Adam, {"lr": 1e-3}),
    "AdamW": ("adamw", torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 1e-2}),
}
TORCH_VARIANTS = {"torch for-loop": {"foreach": False}, "torch foreach": {"foreach": True},
                  "torch fused": {"fused": True}}
WARMUP = 3


def make_params(n_params: int, n_tensors: int, device: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    size = n_params // n_tensors
    params = []
    for _ in range(n_tensors):
        p = torch.randn(size, generator=gen).to(device).requires_grad_(True)
        p.grad = torch.randn(size, generator=gen).to(device) * 1e-2
        params.append(p)
    return params


def copy_params(params: list[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = p.grad.clone()
        out.append(q)
    return out


def variants(name: str, params: list[torch.Tensor], console: Console) -> dict[str, torch.optim.Optimizer] | None:
    registry_name, torch_cls, hyper = OPTIMIZERS[name]
    try:
        entry = optim.get(registry_name)
    except UserError:
        console.print(f"[yellow]skipping {name}: {registry_name!r} is not registered in descentlab.optim yet")
        return None
    out: dict[str, torch.optim.Optimizer] = {"ours": entry.create(copy_params(params), **hyper)}
    for label, flags in TORCH_VARIANTS.items():
        try:
            opt = torch_cls(copy_params(params), **hyper, **flags)
            opt.step()  # fused may be refused only at the first step (device or dtype not supported)
        except (RuntimeError, ValueError, TypeError) as e:
            console.print(f"[dim]{name}: no {label} ({str(e).splitlines()[0][:80]})")
            continue
        out[label] = opt
    return out


def timed(step: Callable[[], Any], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def bench(opts: dict[str, torch.optim.Optimizer], rounds: int, device: str, rng: random.Random) -> dict[str, float]:
    for opt in opts.values():
        for _ in range(WARMUP):
            opt.step()
    times: dict[str, list[float]] = {label: [] for label in opts}
    labels = list(opts)
    for _ in range(rounds):
        rng.shuffle(labels)
        for label in labels:
            times[label].append(timed(opts[label].step, device))
    return {label: statistics.median(ts) for label, ts in times.items()}


def machine(device: str) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=10_000_000, help="total number of parameters")
    parser.add_argument("--tensors", type=int, default=100, help="number of parameter tensors")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds after the warm-up (≥ 1)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset of the table")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    if args.rounds < 1 or args.tensors < 1 or args.params < args.tensors:
        parser.error("need --rounds ≥ 1 and --params ≥ --tensors ≥ 1")

    console = Console(width=max(Console().width, 110))
    info = machine(args.device)
    console.print(" · ".join(f"{k}: {v}" for k, v in info.items()))
    console.print(f"{args.params:,} float32 parameters in {args.tensors} tensors on {args.device}; "
                  f"{args.rounds} interleaved rounds after {WARMUP} warm-up steps; median ms per step")
    rng = random.Random(0)
    params = make_params(args.params, args.tensors, args.device)
    results: dict[str, dict[str, float]] = {}
    for name in args.optimizers.split(","):
        if name not in OPTIMIZERS:
            parser.error(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
        opts = variants(name, params, console)
        if opts is not None:
            results[name] = bench(opts, args.rounds, args.device, rng)
            del opts

    table = Table(title="One optimizer step, median ms (lower is better)")
    columns = ["ours", *TORCH_VARIANTS]
    table.add_column("optimizer")
    for c in columns:
        table.add_column(c, justify="right")
    table.add_column("ours / fastest torch", justify="right")
    for name, ms in results.items():
        fastest = min(v for k, v in ms.items() if k != "ours")
        table.add_row(name, *(f"{ms[c]:.2f}" if c in ms else "—" for c in columns), f"{ms['ours'] / fastest:.2f}")
    console.print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "params": args.params, "tensors": args.tensors, "rounds": args.rounds,
                       "device": args.device, "median_ms": results}, f, indent=2)


if __name__ == "__main__":
    main()
