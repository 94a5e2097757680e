"""A foreign optimizer in descentlab vs the same optimizer in an idiomatic PyTorch loop over the same data.

    .venv/bin/python benchmarks/foreign_optimizer.py [--task mnist1d-mlp] [--optimizer torch.optim:Adam]
                                                     [--epochs 5] [--threads 1] [--json out.json]

"Foreign" is an optimizer that is not a descentlab rule (by default ``torch.optim.Adam`` itself, named as a user
would name their own, ``torch.optim:Adam``): descentlab trains it one run at a time in its single-run loop. The
idiomatic loop is what a user would write around the same model, data and optimizer: the training tensors
preloaded, a fresh permutation per epoch, ``for`` over index batches, ``zero_grad`` / ``loss.backward()`` /
``step()``, with the loss and accuracy summed for the epoch's report. Both train the same task's network from the
same initial weights on the same batches (descentlab's permutation for seed 0), epoch by epoch interleaved in one
process (alternating which goes first), and the figure is the median over epochs of the training seconds
(evaluation excluded on both sides) and their ratio descentlab / loop (≤ 1: descentlab costs no more). It also
checks that both reach the same final training loss (they take the same steps; the gradients of descentlab's
explicit engine equal autograd's to float rounding).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from descentlab import optim
from descentlab.tasks import get_task
from descentlab.train import RunConfig, train
from descentlab.train.core import permutation


def idiomatic_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                    loss_fn, batch: int, seed: int, epoch: int) -> tuple[float, float]:
    """One epoch as a user writes it; (seconds, mean training loss)."""
    t0 = time.perf_counter()
    order = permutation(len(y), seed, epoch)
    total, correct = 0.0, 0
    for idx in order.split(batch):
        xb, yb = x[idx], y[idx]
        out = model(xb)
        loss = loss_fn(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
        correct += (out.argmax(1) == yb).sum().item()
    return time.perf_counter() - t0, total / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--optimizer", default="torch.optim:Adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    splits = task.load()
    config = RunConfig.build(task, args.optimizer, {"lr": args.lr}, epochs=1)
    batch = int(config.batch_size)
    load = [os.getloadavg()]

    model = task.build_model(config.seed, config.init)
    opt = optim.get(args.optimizer).create(model.parameters(), **config.hyperparameters)
    ours, theirs = [], []
    our_loss = their_loss = None
    for epoch in range(1, args.epochs + 1):
        # descentlab: the same configuration, epoch by epoch (a run of `epoch` epochs resumes nothing, so train the
        # whole run each time and time its last epoch)
        first = epoch % 2 == 0
        if first:
            seconds, their_loss = idiomatic_epoch(model, opt, splits.x_train, splits.y_train, task.loss_fn, batch,
                                                  config.seed, epoch)
            theirs.append(seconds)
        run = train(RunConfig.build(task, args.optimizer, {"lr": args.lr}, epochs=epoch), task=task, splits=splits)
        ours.append(run.epochs[-1]["seconds"])
        our_loss = run.epochs[-1]["train_loss"]
        if not first:
            seconds, their_loss = idiomatic_epoch(model, opt, splits.x_train, splits.y_train, task.loss_fn, batch,
                                                  config.seed, epoch)
            theirs.append(seconds)
    load.append(os.getloadavg())
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"{args.task}, {args.optimizer} (lr {args.lr:g}), batch {batch}, {args.threads} thread(s)")
    print(f"  descentlab single-run loop: median {statistics.median(ours):.4f} s/epoch  {[round(s, 4) for s in ours]}")
    print(f"  idiomatic PyTorch loop:     median {statistics.median(theirs):.4f} s/epoch  "
          f"{[round(s, 4) for s in theirs]}")
    print(f"  ratio descentlab / loop: {ratio:.2f} (goal ≤ 1)")
    print(f"  final training loss: descentlab {our_loss:.6f}, loop {their_loss:.6f}")
    print(f"  load average at start {load[0]}, at end {load[1]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "loop": theirs, "ratio": ratio, "load": load, "our_loss": our_loss,
                       "loop_loss": their_loss, **vars(args)}, f, indent=1)


if __name__ == "__main__":
    main()
