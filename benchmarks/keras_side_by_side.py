"""Issue 3: ``descentlab compare --preset keras`` against the classic Keras program, on the full Fashion-MNIST.

    python benchmarks/keras_side_by_side.py                          # 3 seeds × sgd,adam,rmsprop × 5 epochs
    python benchmarks/keras_side_by_side.py --seeds 1 --epochs 1 --optimizers adam   # a quick check
    python benchmarks/keras_side_by_side.py --threads 1 --json out.json

In one run, one after another on the same machine:

1. ``descentlab compare --task fashion-mlp --preset keras --epochs E --seeds S --optimizers … --store TMP
   --json TMP`` as a subprocess of the project's Python, timed end to end (wall time of the whole process:
   Python start-up, imports, data loading, all runs, evaluation after every epoch, the SQLite store, the summary);
2. ``benchmarks/keras_program.py`` under ``--keras-python`` (default ``.venv-keras/bin/python``: TensorFlow
   lives in its own venv, never in the project's), also timed end to end, on the *same* training subset:
   the harness writes descentlab's validation split (``val_fraction`` 0.1, stratified, ``data_seed`` 0 — what
   ``compare`` uses) to an npz and Keras trains on the same 54 000 images and validates on the same 6 000
   (``validation_data``); both report accuracy on the untouched 10 000 test images;
   then step 1 once more, so that a change of load during the long Keras run shows: the end-to-end ratio is
   taken against the slower of our two runs;
3. in this process, interleaved epoch by epoch: an idiomatic PyTorch loop (``TensorDataset`` + ``DataLoader
   (batch_size=32, shuffle=True)`` + ``torch.optim.Adam`` + ``nn.Sequential`` 784-128-10) and a single
   descentlab Adam run (``descentlab.train.train``, keras preset), with the same thread count.

Fidelity: mean test accuracy per optimizer within 1 point of Keras's. Speed: the whole comparison ≥ 5× faster
end to end than the Keras program; a single Adam run ≥ 2× faster per epoch than the DataLoader loop.

``--threads N`` sets ``OMP_NUM_THREADS`` for both subprocesses, TensorFlow's intra-/inter-op threads and
``torch.set_num_threads`` here (default: every library's own default). ``os.getloadavg()`` is printed at the
start and the end: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
FIDELITY_POINTS = 1.0
GOAL_END_TO_END, GOAL_DATALOADER = 5.0, 2.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keras-python", default=str(ROOT / ".venv-keras/bin/python"),
                   help="Python of the venv with tensorflow-cpu (default .venv-keras/bin/python)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--optimizers", default="sgd,adam,rmsprop")
    p.add_argument("--threads", type=int, help="threads for every side (default: each library's default)")
    p.add_argument("--dataloader-epochs", type=int, default=5,
                   help="epochs of the DataLoader loop / single Adam run, interleaved (default 5)")
    p.add_argument("--skip-keras", action="store_true", help="only our side and the DataLoader loop")
    p.add_argument("--json", help="write every number here")
    return p.parse_args(argv)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "date": date.today().isoformat()}


def mean_std(xs: list[float]) -> tuple[float, float]:
    return (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0) if xs else (float("nan"),) * 2


def child_env(threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def write_split(path: Path) -> dict:
    """descentlab's validation split of the Fashion-MNIST training set (what ``compare`` trains on)."""
    from descentlab.data import sources
    from descentlab.data.split import stratified_split
    from descentlab.tasks import get_task
    from descentlab.train import RunConfig

    config = RunConfig.build(get_task("fashion-mlp"), "adam")
    raw = sources.load_idx_dataset("fashion-mnist")
    train_idx, val_idx = stratified_split(raw.y_train, config.val_fraction, config.data_seed)
    np.savez(path, train_idx=train_idx, val_idx=val_idx)
    return {"source": raw.source, "val_fraction": config.val_fraction, "data_seed": config.data_seed,
            "n_train": int(len(train_idx)), "n_val": int(len(val_idx))}


def run_ours(args, tmp: Path, console: Console) -> dict:
    out = tmp / "ours.json"
    cmd = [sys.executable, "-m", "descentlab", "compare", "--task", "fashion-mlp", "--preset", "keras",
           "--epochs", str(args.epochs), "--seeds", str(args.seeds), "--optimizers", args.optimizers,
           "--store", str(tmp / "store.sqlite"), "--json", str(out), "--quiet"]
    console.print(f"[bold]descentlab:[/] {' '.join(cmd[2:])}", highlight=False)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=child_env(args.threads), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"descentlab compare failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(out.read_text())
    runs = [{"optimizer": r["optimizer"], "seed": r["seed"], "status": r["status"],
             "test_acc": r["summary"]["final"]["test_acc"],
             "seconds_per_epoch": r["summary"]["seconds"] / max(r["summary"]["epochs_completed"], 1)}
            for r in data["runs"]]
    return {"wall_seconds": wall, "command": " ".join(cmd[2:]), "runs": runs}


def run_keras(args, split: Path, tmp: Path, console: Console) -> dict:
    out = tmp / "keras.json"
    cmd = [args.keras_python, str(ROOT / "benchmarks/keras_program.py"), "--split", str(split),
           "--optimizers", args.optimizers, "--seeds", str(args.seeds), "--epochs", str(args.epochs),
           "--json", str(out)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    console.print(f"[bold]keras:[/] {' '.join(cmd)}", highlight=False)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=child_env(args.threads), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"keras program failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    data = json.loads(out.read_text())
    for r in data["runs"]:
        r["seconds_per_epoch"] = statistics.fmean(r["train_seconds"])
    data["wall_seconds"] = wall
    return data


def dataloader_vs_ours(epochs: int, console: Console) -> dict:
    """Interleaved: one DataLoader epoch, then one epoch of a single descentlab Adam run (keras preset)."""
    from torch.utils.data import DataLoader, TensorDataset

    from descentlab.experiments.presets import get_preset
    from descentlab.tasks import get_task
    from descentlab.train import RunConfig, train

    task = get_task("fashion-mlp")
    splits = task.load(val_fraction=0.1, seed=0)
    loader = DataLoader(TensorDataset(splits.x_train, splits.y_train), batch_size=32, shuffle=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    dl_s, ours_s = [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        dl_s.append(time.perf_counter() - t0)
        config = RunConfig.build(task, "adam", get_preset("keras").overrides("adam"), epochs=1, batch_size=32,
                                 seed=epoch, init="keras")
        ours_s.append(train(config, task=task, splits=splits).epochs[0]["seconds"])
        console.print(f"  epoch {epoch + 1}: DataLoader {dl_s[-1]:.2f} s, descentlab Adam {ours_s[-1]:.2f} s",
                      highlight=False)
    with torch.inference_mode():
        dl_acc = (model(splits.x_test).argmax(1) == splits.y_test).float().mean().item()
    return {"dataloader_seconds": dl_s, "ours_seconds": ours_s, "dataloader_test_acc": dl_acc,
            "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(width=150)
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"machine": machine(), "args": vars(args), "loadavg_start": os.getloadavg()}
    console.print(f"{result['machine']['cpu']}, {result['machine']['cores']} cores; load average at start "
                  + " ".join(f"{v:.2f}" for v in result["loadavg_start"]), highlight=False)
    with tempfile.TemporaryDirectory(prefix="keras-side-by-side-") as d:
        tmp = Path(d)
        split = tmp / "split.npz"
        result["split"] = write_split(split)
        result["ours"] = run_ours(args, tmp, console)
        console.print(f"  descentlab: {result['ours']['wall_seconds']:.1f} s end to end; load "
                      + " ".join(f"{v:.2f}" for v in os.getloadavg()), highlight=False)
        if not args.skip_keras:
            result["keras"] = run_keras(args, split, tmp, console)
            console.print(f"  keras: {result['keras']['wall_seconds']:.1f} s end to end; load "
                          + " ".join(f"{v:.2f}" for v in os.getloadavg()), highlight=False)
            # Ours once more after Keras (a fresh store), so that load drift during the long Keras run shows.
            again = tmp / "again"
            again.mkdir()
            result["ours_after"] = run_ours(args, again, console)
            console.print(f"  descentlab again: {result['ours_after']['wall_seconds']:.1f} s end to end; load "
                          + " ".join(f"{v:.2f}" for v in os.getloadavg()), highlight=False)
    console.print(f"[bold]DataLoader loop vs a single descentlab Adam run[/] (interleaved, "
                  f"{torch.get_num_threads()} torch threads)")
    result["dataloader"] = dataloader_vs_ours(args.dataloader_epochs, console)
    result["loadavg_end"] = os.getloadavg()
    report(result, console)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        console.print(f"Wrote {args.json}")
    return 0


def report(result: dict, console: Console) -> None:
    ours, keras = result["ours"], result.get("keras")
    names = list(dict.fromkeys(r["optimizer"] for r in ours["runs"]))
    table = Table(title="Fashion-MNIST, 784-128-10, batch 32: test accuracy (mean ± std over seeds) and "
                        "training s/epoch", title_justify="left")
    # Our runs share one vectorized pass, so their s/epoch is the pass's, for all of them together.
    for h in ("optimizer", "seeds", "Keras acc %", "ours acc %", "Δ points", "fidelity", "Keras s/epoch",
              "ours s/epoch (shared pass)"):
        table.add_column(h, justify="left" if h == "optimizer" else "right")
    summary = {}
    for name in names:
        o = [r for r in ours["runs"] if r["optimizer"] == name]
        k = [r for r in keras["runs"] if r["optimizer"] == name] if keras else []
        oa, osd = mean_std([100 * r["test_acc"] for r in o])
        os_ = statistics.fmean(r["seconds_per_epoch"] for r in o)
        row = {"seeds": len(o), "ours_acc": oa, "ours_acc_std": osd, "ours_s_per_epoch": os_}
        if k:
            ka, ksd = mean_std([100 * r["test_acc"] for r in k])
            ks = statistics.fmean(r["seconds_per_epoch"] for r in k)
            diff = oa - ka
            row.update(keras_acc=ka, keras_acc_std=ksd, diff_points=diff, keras_s_per_epoch=ks,
                       passed=abs(diff) <= FIDELITY_POINTS)
            table.add_row(name, str(len(o)), f"{ka:.2f} ± {ksd:.2f}", f"{oa:.2f} ± {osd:.2f}", f"{diff:+.2f}",
                          "[green]PASS[/]" if row["passed"] else "[red]FAIL[/]", f"{ks:.2f}", f"{os_:.2f}")
        else:
            table.add_row(name, str(len(o)), "–", f"{oa:.2f} ± {osd:.2f}", "–", "–", "–", f"{os_:.2f}")
        summary[name] = row
    console.print(table)
    result["summary"] = summary
    ow = ours["wall_seconds"]
    if keras:
        kw = keras["wall_seconds"]
        walls = [ow] + ([result["ours_after"]["wall_seconds"]] if "ours_after" in result else [])
        ow = max(walls)  # the slower of our two runs, before and after Keras
        ratio = kw / ow
        result["end_to_end"] = {"keras_seconds": kw, "ours_seconds": walls, "ratio": ratio,
                                "passed": ratio >= GOAL_END_TO_END}
        console.print(f"End to end (wall time of each whole program, start-up, data loading and evaluation "
                      f"included): Keras {kw:.1f} s, descentlab {' and '.join(f'{w:.1f}' for w in walls)} s "
                      f"(before and after Keras) → {ratio:.2f}× against the slower "
                      f"(goal ≥ {GOAL_END_TO_END:g}×: {'PASS' if ratio >= GOAL_END_TO_END else 'FAIL'}); "
                      f"Keras import {keras['import_seconds']:.1f} s, data {keras['data_seconds']:.1f} s",
                      highlight=False)
    else:
        console.print(f"End to end: descentlab {ow:.1f} s (Keras skipped)")
    dl = result["dataloader"]
    dls, ours_s = statistics.fmean(dl["dataloader_seconds"]), statistics.fmean(dl["ours_seconds"])
    ratios = [a / b for a, b in zip(dl["dataloader_seconds"], dl["ours_seconds"])]
    r = statistics.median(ratios)
    result["dataloader_summary"] = {"dataloader_s_per_epoch": dls, "ours_s_per_epoch": ours_s,
                                    "median_pair_ratio": r, "passed": r >= GOAL_DATALOADER}
    console.print(f"Single Adam run vs idiomatic DataLoader loop ({dl['torch_threads']} threads, "
                  f"{len(ratios)} interleaved epoch pairs): DataLoader {dls:.2f} s/epoch, descentlab {ours_s:.2f} "
                  f"s/epoch → median ratio {r:.2f}× (per pair: {', '.join(f'{x:.2f}' for x in ratios)}; goal ≥ "
                  f"{GOAL_DATALOADER:g}×: {'PASS' if r >= GOAL_DATALOADER else 'FAIL'})", highlight=False)
    console.print("Load average: start " + " ".join(f"{v:.2f}" for v in result["loadavg_start"]) + ", end "
                  + " ".join(f"{v:.2f}" for v in result["loadavg_end"]), highlight=False)


if __name__ == "__main__":
    raise SystemExit(main())
