"""Time one optimizer step on many parameters: descentlab's optimizers next to torch.optim's (or the authors').

For each optimizer, every variant gets its own copy of the same parameters and gradients: ours on its default
path (torch's fused kernel where torch has one, else the fused step generated from the rule by torch.compile,
``rules/generated.py``), ours with ``fused=False`` (the readable per-tensor rule), and the reference's for-loop,
foreach and fused implementations where it has them (torch.optim; ``lion_pytorch`` and ``schedulefree`` for the
optimizers torch lacks). After a warm-up, each round times one step of every variant in a fresh random order (so
drift in the machine's speed hits all variants alike); the table shows the best of the rounds (on a shared
machine the least disturbed; the JSON has the medians too), ours / the
fastest reference, and ours / the memory-bandwidth limit: the bytes the rule must read and write per step
(parameters, gradients and every state tensor read, parameters and state written) ÷ the copy bandwidth
(``dst.copy_(src)`` over the same number of floats, bytes read + written) measured in the same run. The first
step of ours (which compiles the generated step, or loads it from inductor's disk cache) is timed apart.

    python benchmarks/optimizer_step.py                      # 10M float32 parameters: 100 tensors, then 1,000
    python benchmarks/optimizer_step.py --shapes 100 --optimizers RMSprop,Adam --rounds 10
    python benchmarks/optimizer_step.py --cold-cache         # a fresh inductor cache: the first compile on a machine
    python benchmarks/optimizer_step.py --device cuda --rounds 50 --json step.json

``--mixed`` gives the tensors a convolutional network's mix of shapes (4-d convolution weights, 1-d norms and
biases, 2-d linear weights, in a repeating order) instead of 1-d tensors, so that chunks of 16 tensors have
different patterns of dimensions; ``--by-dimensions`` keys the generated step's programs by those patterns again
(the rule's ``elementwise`` declaration switched off), the step before 1-D views. The first-step time of the two,
each with ``--cold-cache``, is what a user of a CNN waits for at the first step:

    python benchmarks/optimizer_step.py --mixed --cold-cache --shapes 100 --optimizers RMSprop --rounds 3
    python benchmarks/optimizer_step.py --mixed --cold-cache --shapes 100 --optimizers RMSprop --rounds 3 \
        --by-dimensions
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

# name in the table -> (registry name, {reference label: class}, hyperparameters shared by ours and the references,
#                       whether the reference has a fused kernel of this rule)
TORCH = "torch"
OPTIMIZERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "SGD-momentum": ("momentum", "torch.optim.SGD", {"lr": 1e-3, "momentum": 0.9}),
    "Adagrad": ("adagrad", "torch.optim.Adagrad", {"lr": 1e-2}),
    "Adam": ("adam", "torch.optim.Adam", {"lr": 1e-3}),
    "AdamW": ("adamw", "torch.optim.AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
    "RMSprop": ("rmsprop", "torch.optim.RMSprop", {"lr": 1e-3}),
    "Adadelta": ("adadelta", "torch.optim.Adadelta", {"lr": 1.0}),
    "Adamax": ("adamax", "torch.optim.Adamax", {"lr": 2e-3}),
    "NAdam": ("nadam", "torch.optim.NAdam", {"lr": 2e-3}),
    "RAdam": ("radam", "torch.optim.RAdam", {"lr": 1e-3}),
    "Lion": ("lion", "lion_pytorch.Lion", {"lr": 1e-4, "weight_decay": 1e-2}),
    "SGD-schedulefree": ("sgd-schedulefree", "schedulefree.SGDScheduleFree", {"lr": 1.0}),
    "AdamW-schedulefree": ("adamw-schedulefree", "schedulefree.AdamWScheduleFree", {"lr": 2.5e-3}),
    # Muon on 1-D tensors: every tensor takes its AdamW half (adamw_* hyperparameters); the reference is AdamW.
    "Muon (AdamW half)": ("muon", "torch.optim.AdamW", {}),
}
MUON_ADAMW = {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.0}
REFERENCE_VARIANTS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
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


# --mixed: one block of a convolutional network, repeated: convolution weight, norm weight and bias, linear weight
# and bias. Its length (5) is prime to the chunk length (16): consecutive chunks have different patterns.
MIXED_BLOCK = (4, 1, 1, 2, 1)
SMALL = 256  # elements of a 1-d tensor (norms and biases are small)


def make_mixed_params(n_params: int, n_tensors: int, device: str) -> list[torch.Tensor]:
    """About ``n_params`` float32 parameters in ``n_tensors`` tensors of :data:`MIXED_BLOCK`'s dimensions."""
    gen = torch.Generator().manual_seed(0)
    dims = [MIXED_BLOCK[i % len(MIXED_BLOCK)] for i in range(n_tensors)]
    n_big = sum(d > 1 for d in dims)
    big = max((n_params - SMALL * (n_tensors - n_big)) // max(n_big, 1), 18 * 100)
    shapes = {1: (SMALL,), 2: (big // 100, 100), 4: (big // 18, 2, 3, 3)}
    params = []
    for d in dims:
        p = torch.randn(shapes[d], generator=gen).to(device).requires_grad_(True)
        p.grad = torch.randn(shapes[d], generator=gen).to(device) * 1e-2
        params.append(p)
    return params


def by_dimensions(entry: Any) -> Any:
    """``entry`` with its rule's ``elementwise`` declaration off: the generated step keys its programs by the
    chunks' patterns of dimensions (the step before 1-D views), for comparing first-step times."""
    rule = getattr(entry.cls, "rule", None)
    if rule is None or not rule.elementwise:
        return entry
    cls = type(entry.cls.__name__, (entry.cls,), {"rule": dataclasses.replace(rule, elementwise=False)})
    return dataclasses.replace(entry, cls=cls)


def copy_params(params: list[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = p.grad.clone()
        out.append(q)
    return out


def reference_class(path: str) -> type[torch.optim.Optimizer] | None:
    module, _, name = path.rpartition(".")
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except ImportError:
        return None


def prepared(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    if hasattr(opt, "train") and callable(opt.train):  # schedule-free: parameters at y for training
        opt.train()
    return opt


def variants(name: str, params: list[torch.Tensor], console: Console,
             timer: Callable[[Callable[[], Any]], float],
             dimensions: bool = False) -> tuple[dict[str, torch.optim.Optimizer], float]:
    """The optimizers to time, and the seconds of ours' first step (compilation or a cache load included);
    ``dimensions``: see :func:`by_dimensions`."""
    from descentlab import optim

    registry_name, ref_path, hyper = OPTIMIZERS[name]
    entry = optim.get(registry_name)
    if dimensions:
        entry = by_dimensions(entry)
    ours_hyper = {f"adamw_{k}": v for k, v in MUON_ADAMW.items()} if registry_name == "muon" else hyper
    ref_hyper = MUON_ADAMW if registry_name == "muon" else hyper
    ours = prepared(entry.create(copy_params(params), **ours_hyper))
    first = timer(ours.step) / 1e3
    console.print(f"{name}: first step {first:.1f} s, {programs(ours)} generated programs")
    out: dict[str, torch.optim.Optimizer] = {"ours": ours,
                                             "ours readable": prepared(entry.create(copy_params(params), fused=False,
                                                                                    **ours_hyper))}
    cls = reference_class(ref_path)
    if cls is None:
        console.print(f"[yellow]{name}: {ref_path} is not installed; no reference")
        return out, first
    tried = {**REFERENCE_VARIANTS, "default": {}}
    for label, flags in tried.items():
        if label == "default" and any(k.startswith(ref_path.split(".")[0]) for k in out):
            break
        try:
            opt = prepared(cls(copy_params(params), **ref_hyper, **flags))
            opt.step()  # fused may be refused only at the first step (device or dtype not supported)
        except (RuntimeError, ValueError, TypeError) as e:
            console.print(f"[dim]{name}: no {label} ({str(e).splitlines()[0][:80]})")
            continue
        out[f"{ref_path.split('.')[0]} {label}"] = opt
    return out, first


def programs(opt: torch.optim.Optimizer) -> int:
    """How many programs the generated step of ``opt``'s rule has compiled in this process (0: torch's kernel)."""
    from descentlab.rules import generated

    rule = getattr(type(opt), "rule", None)
    return 0 if rule is None or rule.fused is not None else generated.fused_step(rule).compiles


def timed(step: Callable[[], Any], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def bench(opts: dict[str, torch.optim.Optimizer], rounds: int, device: str,
          rng: random.Random) -> dict[str, dict[str, float]]:
    for opt in opts.values():
        for _ in range(WARMUP):
            opt.step()
    times: dict[str, list[float]] = {label: [] for label in opts}
    labels = list(opts)
    for _ in range(rounds):
        rng.shuffle(labels)
        for label in labels:
            times[label].append(timed(opts[label].step, device))
    return {"best": {label: min(ts) for label, ts in times.items()},
            "median": {label: statistics.median(ts) for label, ts in times.items()}}


def copy_bandwidth(n: int, rounds: int, device: str) -> float:
    """Bytes read + written per second by ``dst.copy_(src)`` over ``n`` float32 elements (median of rounds)."""
    src, dst = torch.randn(n, device=device), torch.empty(n, device=device)
    for _ in range(WARMUP):
        dst.copy_(src)
    ms = min(timed(lambda: dst.copy_(src), device) for _ in range(max(rounds, 10)))
    return 2 * 4 * n / (ms / 1e3)


def bytes_moved(opt: torch.optim.Optimizer) -> int:
    """What the rule must read and write per step: parameters and gradients read, parameters written, and every
    state tensor the size of its parameter read and written (scalar counters not counted)."""
    total = 0
    for group in opt.param_groups:
        for p in group["params"]:
            full = [v for v in opt.state[p].values() if torch.is_tensor(v) and v.numel() == p.numel()]
            total += (3 + 2 * len(full)) * p.numel() * p.element_size()
    return total


def machine(device: str) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def run_shape(args: argparse.Namespace, n_tensors: int, console: Console, rng: random.Random) -> dict[str, Any]:
    params = (make_mixed_params if args.mixed else make_params)(args.params, n_tensors, args.device)
    n_params = sum(p.numel() for p in params)
    bandwidth = copy_bandwidth(n_params, args.rounds, args.device)
    kinds = f" ({'-d, '.join(str(d) for d in MIXED_BLOCK)}-d, repeated)" if args.mixed else ""
    console.print(f"\n{n_params:,} float32 parameters in {n_tensors} tensors{kinds} on {args.device}; copy bandwidth "
                  f"{bandwidth / 1e9:.1f} GB/s (read + written); {args.rounds} interleaved rounds after {WARMUP} "
                  "warm-up steps")
    results: dict[str, Any] = {}
    for name in args.optimizers.split(","):
        opts, first = variants(name, params, console, lambda step: timed(step, args.device), args.by_dimensions)
        timings = bench(opts, args.rounds, args.device, rng)
        limit_ms = bytes_moved(opts["ours"]) / bandwidth * 1e3
        results[name] = {"best_ms": timings["best"], "median_ms": timings["median"], "first_step_s": first,
                         "programs": programs(opts["ours"]),
                         "bandwidth_limit_ms": limit_ms}
        del opts
    refs = sorted({label for r in results.values() for label in r["best_ms"]} - {"ours", "ours readable"},
                  key=lambda s: (s.split()[0] != "torch", s))
    table = Table(title=f"One step, {n_tensors} tensors: best of {args.rounds} rounds, ms (lower is better)")
    for c in ("optimizer", "ours", "ours readable", *refs, "ours / fastest ref", "ours / bw limit",
              "first step s"):
        table.add_column(c, justify="left" if c == "optimizer" else "right")
    for name, r in results.items():
        ms = r["best_ms"]
        fastest = min((v for k, v in ms.items() if not k.startswith("ours")), default=float("nan"))
        r["ours_over_fastest_reference"] = ms["ours"] / fastest
        r["ours_over_bandwidth_limit"] = ms["ours"] / r["bandwidth_limit_ms"]
        table.add_row(name, *(f"{ms[c]:.2f}" if c in ms else "—" for c in ("ours", "ours readable", *refs)),
                      f"{r['ours_over_fastest_reference']:.2f}", f"{r['ours_over_bandwidth_limit']:.2f}",
                      f"{r['first_step_s']:.1f}")
    console.print(table)
    return {"tensors": n_tensors, "copy_bandwidth_GBps": bandwidth / 1e9, "optimizers": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=10_000_000, help="total number of parameters")
    parser.add_argument("--shapes", default="100,1000", help="comma-separated numbers of tensors (one table each)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds after the warm-up (≥ 1)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset of the table")
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own choice)")
    parser.add_argument("--cold-cache", action="store_true",
                        help="compile into a fresh, empty inductor cache (what the first run on a machine pays)")
    parser.add_argument("--mixed", action="store_true",
                        help="4-d, 1-d and 2-d tensors as in a convolutional network, instead of 1-d ones")
    parser.add_argument("--by-dimensions", action="store_true",
                        help="key the generated step's programs by the chunks' dimensions (no 1-D views), to "
                             "compare the first step")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    try:
        shapes = [int(s) for s in args.shapes.split(",")]
    except ValueError:
        parser.error(f"--shapes {args.shapes!r}: allowed: comma-separated integers")
    if args.rounds < 1 or min(shapes) < 1 or args.params < max(shapes):
        parser.error("need --rounds ≥ 1 and --params ≥ every --shapes value ≥ 1")
    unknown = [n for n in args.optimizers.split(",") if n not in OPTIMIZERS]
    if unknown:
        parser.error(f"unknown optimizer {unknown[0]!r}; allowed: {', '.join(OPTIMIZERS)}")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads {args.threads}: allowed: an integer ≥ 1")
        torch.set_num_threads(args.threads)
    if args.cold_cache:  # before anything compiles: inductor reads the variable when it first needs its cache
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cold-")

    console = Console(width=max(Console().width, 150))
    info = machine(args.device)
    console.print(" · ".join(f"{k}: {v}" for k, v in info.items()))
    rng = random.Random(0)
    out = [run_shape(args, n, console, rng) for n in shapes]
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    console.print(f"load average at the end: {info['load_average_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "params": args.params, "rounds": args.rounds, "device": args.device,
                       "cold_cache": args.cold_cache, "mixed": args.mixed,
                       "by_dimensions": args.by_dimensions, "shapes": out}, f, indent=2)


if __name__ == "__main__":
    main()
