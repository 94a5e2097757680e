"""A learning-rate sweep trained in one vectorized pass vs the same configurations one after another.

    python benchmarks/sweep_speed.py                      # 16 × adam, lr 1e-4..1e-1, fashion-mlp, batch 32, 1 epoch
    python benchmarks/sweep_speed.py --limit 12000 --profile

Prints the training seconds (evaluation excluded, reported apart) of the vectorized pass and of the same
configurations run one after another with the single-run loop, both as it ships (explicit gradients for this
MLP) and with autograd, alternated configuration by configuration; the speed-ups; the vectorized pass's achieved
matmul FLOP/s — the FLOPs it performs: 2·2·B·(784·128 + 128·10) + 2·B·128·10 per step per configuration (forward
and weight gradients; the data needs no gradient) — against a ``[K, B, 784] × [K, 784, 128]`` bmm and a 2048²
matmul measured in the same run; and with ``--profile`` where the vectorized pass's time goes (torch.profiler).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from rich.console import Console
from rich.table import Table

from descentlab.data import Splits, load_dataset
from descentlab.tasks import get_task
from descentlab.train import RunConfig, train
from descentlab.train.vectorized import train_vectorized

TASK = "fashion-mlp"
SIZES = (784, 128, 10)


def _data(limit: int | None) -> tuple[Splits, str]:
    try:
        splits = load_dataset("fashion-mnist", download=False)
        what = f"Fashion-MNIST ({splits.source})"
    except Exception as e:  # noqa: BLE001 - any failure: say so and use random data of the same shape
        g = torch.Generator().manual_seed(0)
        x, y = torch.rand(70000, 1, 28, 28, generator=g), torch.randint(0, 10, (70000,), generator=g)
        splits = Splits("random", x[:54000], y[:54000], x[54000:60000], y[54000:60000], x[60000:], y[60000:], 10,
                        (1, 28, 28), "random")
        what = f"random data of Fashion-MNIST's shape (load failed: {e})"
    if limit:
        held = max(1, limit // 10)
        splits = Splits(splits.name, splits.x_train[:limit], splits.y_train[:limit], splits.x_val[:held],
                        splits.y_val[:held], splits.x_test[:held], splits.y_test[:held], splits.num_classes,
                        splits.input_shape, splits.source)
        what += f", first {limit} training examples"
    return splits, what


def _gflops(fn, flops: float, repeat: int = 20) -> float:
    for _ in range(3):
        fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return flops * repeat / (time.perf_counter() - t) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int, default=None, help="use the first N training examples")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--update", default="auto", choices=["auto", "tensor", "runs"])
    ap.add_argument("--forward", default="auto", choices=["auto", "bmm", "vmap"])
    ap.add_argument("--engine", default="auto", choices=["auto", "explicit", "autograd"],
                    help="gradients of the vectorized pass (the sequential side is run both ways)")
    ap.add_argument("--seeds", type=int, default=1, help="distinct seeds (1: all configurations share batches)")
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--profile", action="store_true", help="profile a second vectorized pass by operator")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console()
    device = torch.device(args.device)
    splits, what = _data(args.limit)
    task = get_task(TASK)
    lrs = torch.logspace(-4, -1, args.configs).tolist()
    configs = [RunConfig.build(task, "adam", {"lr": lr}, epochs=args.epochs, batch_size=args.batch,
                               seed=i % args.seeds) for i, lr in enumerate(lrs)]
    console.print(f"{len(configs)} × adam (lr {lrs[0]:.0e}..{lrs[-1]:.0e}), {TASK}, batch {args.batch}, "
                  f"{args.epochs} epoch(s), {len(splits.y_train)} training examples: {what}")
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    t = time.perf_counter()
    vec = train_vectorized(configs, task=task, splits=splits, device=device, update=args.update,
                           forward=args.forward, engine=args.engine)
    vec_wall = time.perf_counter() - t
    vec_train = sum(e["seconds"] for e in vec[0].epochs)
    steps = vec[0].epochs[-1]["steps"]

    # The single-run loop as it ships (explicit gradients for this MLP) and with autograd (the step of an
    # idiomatic torch loop), alternated configuration by configuration so that load drift hits both alike.
    seq: list = []
    seq_train = {"auto": 0.0, "autograd": 0.0}
    seq_wall = {"auto": 0.0, "autograd": 0.0}
    if not args.skip_sequential:
        for c in configs:
            for engine in ("auto", "autograd"):
                t = time.perf_counter()
                r = train(c, task=task, splits=splits, device=device, engine=engine)
                seq_wall[engine] += time.perf_counter() - t
                seq_train[engine] += sum(e["seconds"] for e in r.epochs)
                if engine == "auto":
                    seq.append(r)
    else:
        seq_train = seq_wall = {"auto": float("nan"), "autograd": float("nan")}

    k, b = len(configs), args.batch
    # FLOPs performed per configuration and step: forward and weight gradients of both layers, and the input
    # gradient of the second only (nothing needs the gradient of the data).
    flops_step = 2 * 2 * b * (SIZES[0] * SIZES[1] + SIZES[1] * SIZES[2]) + 2 * b * SIZES[1] * SIZES[2]
    achieved = flops_step * k * steps / vec_train / 1e9
    xa, wa = torch.randn(k, b, SIZES[0], device=device), torch.randn(k, SIZES[0], SIZES[1], device=device)
    xs, ws = xa[0], torch.randn(SIZES[0], k * SIZES[1], device=device)
    big = torch.randn(2048, 2048, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    bmm = _gflops(lambda: (torch.bmm(xa, wa), sync()), 2 * k * b * SIZES[0] * SIZES[1], 200)
    shared = _gflops(lambda: (xs @ ws, sync()), 2 * k * b * SIZES[0] * SIZES[1], 200)
    square = _gflops(lambda: (big @ big, sync()), 2 * 2048**3, 5)

    table = Table(title="LR sweep: one vectorized pass vs one run after another")
    for col in ("", "train seconds", "wall seconds (incl. eval, build)", "steps/s per config", "ratio"):
        table.add_column(col, justify="right")
    table.add_row(f"vectorized ({args.engine})", f"{vec_train:.2f}", f"{vec_wall:.2f}", f"{steps / vec_train:.0f}",
                  "1.0×")
    for engine, label in (("auto", "sequential, single-run loop"), ("autograd", "sequential, loop with autograd")):
        table.add_row(label, f"{seq_train[engine]:.2f}", f"{seq_wall[engine]:.2f}",
                      f"{k * steps / seq_train[engine]:.0f}" if seq else "-",
                      f"vectorized {seq_train[engine] / vec_train:.2f}× faster")
    console.print(table)
    flops = Table(title="matmul throughput (GFLOP/s)")
    for col in ("", "GFLOP/s", "vectorized pass as share"):
        flops.add_column(col, justify="right")
    flops.add_row("vectorized pass (matmul FLOPs performed / train seconds)", f"{achieved:.1f}", "")
    flops.add_row(f"bmm [{k},{b},784]×[{k},784,128]", f"{bmm:.1f}", f"{achieved / bmm:.0%}")
    flops.add_row(f"mm [{b},784]×[784,{k}·128] (shared batch)", f"{shared:.1f}", f"{achieved / shared:.0%}")
    flops.add_row("mm 2048²", f"{square:.1f}", f"{achieved / square:.0%}")
    console.print(flops)
    if seq:
        worst = max(abs(v.epochs[-1]["val_loss"] - s.epochs[-1]["val_loss"]) / max(abs(s.epochs[-1]["val_loss"]), 1e-12)
                    for v, s in zip(vec, seq) if v.status == s.status == "completed")
        console.print(f"largest relative difference in final val_loss, vectorized vs sequential: {worst:.1e}; "
                      f"statuses: {sorted({r.status for r in vec})}")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_vectorized(configs, task=task, splits=splits, device=device, update=args.update,
                             forward=args.forward, engine=args.engine)
        console.print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


if __name__ == "__main__":
    main()
