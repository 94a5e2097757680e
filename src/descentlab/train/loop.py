"""Train one configuration: data preloaded as tensors, an epoch is a seeded permutation and index gathers.

Per-epoch metrics (keys of each dict in :attr:`RunResult.epochs`):

- ``epoch`` (1-based), ``train_loss`` / ``train_acc`` (over the epoch's batches, weighted by batch size, with the
  weights as they were at each step), ``val_loss`` / ``val_acc`` / ``test_loss`` / ``test_acc`` (evaluated after
  the epoch; ``None`` when a split is empty), ``lr`` (of the epoch's last step);
- ``seconds`` (training wall time of the epoch), ``eval_seconds`` (evaluation), ``elapsed`` (cumulative
  training seconds), ``steps`` (cumulative updates), ``steps_per_s`` (this epoch's), ``state_bytes`` (bytes of
  all tensors in the optimizer state), ``peak_memory_bytes`` (see :mod:`descentlab.train.memory`),
  ``shared_by`` (how many runs the timings belong to: 1 here; the vectorized trainer trains several in one pass,
  whose seconds they all report).

Divergence: the sum of the training losses since the last test is tested for finiteness every ``check_every``
steps (default 1 on CPU, where testing costs < 1 % of a step; 50 on accelerators, to avoid a device sync per
step), and the epoch's weighted total once more at its end. The
reported ``diverged_step`` is the 1-based update at which the test failed, so it is at most ``check_every - 1``
updates after the first non-finite loss. A diverged run stops; its unfinished epoch is not reported.

Gradients: ``engine="auto"`` (default) computes the loss and gradients of MLP-shaped networks with
:class:`~descentlab.train.mlp_gradients.MLPGradients` (explicit back-propagation, the same kernels autograd runs
and bitwise the same gradients on CPU, without autograd's per-step bookkeeping: ≈ 1.3× less time per forward and
backward for the 784-128-10 MLP here) and anything else with autograd; ``"autograd"`` always uses autograd,
``"explicit"`` requires the explicit engine. The optimizer sees ordinary ``.grad`` tensors either way.

Denormals are flushed to zero while :func:`train` runs (see :mod:`descentlab.train.denormals`: ≈14 % faster Adam
training on this CPU, results unchanged) and the process is put back as it was afterwards. Runs are bitwise
reproducible on CPU for a given seed and thread count, and resuming from a checkpoint gives the same bits as an
uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from descentlab import optim
from descentlab.errors import UserError
from descentlab.tasks import Task, get_task
from descentlab.train import checkpoint as ckpt
from descentlab.train.callbacks import Callback
from descentlab.train.config import RunConfig
from descentlab.train.denormals import flush_denormals
from descentlab.train.memory import peak_bytes, reset_peak
from descentlab.train.mlp_gradients import MLPGradients

EVAL_BATCH = 8192
ENGINES = ("auto", "explicit", "autograd")


@dataclass(frozen=True)
class RunResult:
    config: RunConfig
    status: str  # "completed" or "diverged"
    epochs: list[dict[str, Any]]
    diverged_step: int | None = None
    time_to_target: dict[str, Any] | None = None  # {"epoch", "seconds", "steps"} when val_acc first ≥ target
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "status": self.status, "epochs": self.epochs,
                "diverged_step": self.diverged_step, "time_to_target": self.time_to_target}


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s permutation: a function of (seed, epoch) alone, so resuming needs no
    saved generator state and no two (seed, epoch) pairs share a stream."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


@torch.inference_mode()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, loss_fn, batch: int = EVAL_BATCH) -> tuple[Any, Any]:
    """(mean loss, accuracy) over ``x, y`` in large batches; ``(None, None)`` when empty."""
    if len(y) == 0:
        return None, None
    was_training = model.training
    model.eval()
    loss, correct = torch.zeros((), device=x.device, dtype=torch.float64), torch.zeros((), device=x.device)
    for xb, yb in zip(x.split(batch), y.split(batch)):
        out = model(xb)
        loss += loss_fn(out, yb, reduction="sum").double()
        correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    return loss.item() / len(y), correct.item() / len(y)


@flush_denormals()
def train(config: RunConfig, *, task: Task | None = None, splits=None, callbacks: Sequence[Callback] = (),
          checkpoint_path: str | Path | None = None, device: str | torch.device = "cpu",
          check_every: int | None = None, engine: str = "auto") -> RunResult:
    """Train ``config``. ``task`` defaults to the registered task ``config.task``; ``splits`` to its data
    (loaded with ``config.val_fraction`` / ``config.data_seed``). With ``checkpoint_path``, the state is saved
    after every epoch and a run finds and resumes its own checkpoint there (another config's is an error).
    ``engine``: ``"auto"``, ``"explicit"`` or ``"autograd"`` (see the module docstring)."""
    task = task or get_task(config.task)
    splits = splits if splits is not None else task.load(val_fraction=config.val_fraction, seed=config.data_seed)
    device = torch.device(device)
    check_every = check_every or (1 if device.type == "cpu" else 50)
    reset_peak(device)
    x_train, y_train = splits.x_train.to(device), splits.y_train.to(device)
    held_out = {k: (getattr(splits, f"x_{k}").to(device), getattr(splits, f"y_{k}").to(device))
                for k in ("val", "test")}
    model = task.build_model(config.seed, config.init).to(device)
    opt = optim.get(config.optimizer).create(model.parameters(), **config.hyperparameters)
    explicit = gradient_engine(model, task, engine)
    params = [p for _, p in model.named_parameters()]
    loss_fn, schedule, target = task.loss_fn, config.schedule, task.target_val_acc
    n = len(y_train)
    bs = n if config.batch_size == "full" else min(config.batch_size, n)

    history: list[dict[str, Any]] = []
    step, elapsed, start_epoch, reached = 0, 0.0, 0, None
    saved = ckpt.load(checkpoint_path, config.to_dict()) if checkpoint_path else None
    if saved:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        history, start_epoch, reached = saved["metrics"], saved["epoch"], saved["time_to_target"]
        step, elapsed = history[-1]["steps"], history[-1]["elapsed"]
    for cb in callbacks:
        cb.on_run_start(config)

    model.train()
    # Schedule-free optimizers hold two points: train at y, evaluate (and checkpoint) at the average x.
    modes = callable(getattr(opt, "train", None)) and callable(getattr(opt, "eval", None))
    if modes:
        opt.train()
    diverged = None
    weights = [p.detach() for p in params]  # views sharing storage: the optimizer's in-place updates show
    buffers = [torch.zeros_like(w) for w in weights] if explicit is not None else []
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if config.batch_size == "full":  # one step on all the data: no permutation, no gather
            order, batches = None, [None]
        else:
            order = torch.randperm(n, generator=epoch_generator(config.seed, epoch)).to(device)
            batches = order.split(bs)
        # Per step, only what cannot wait: the loss (kept, summed at the end of the epoch) and the predicted
        # classes written into their place in the epoch's order. Summing and comparing on every step cost
        # ≈ 50 µs, a tenth of a small MLP's step.
        losses: list[Tensor] = []
        predicted = torch.empty(n, dtype=torch.int64, device=device)
        done, checked = 0, 0
        epoch_start_step = step
        t0 = time.perf_counter()
        for idx in batches:
            # index_select: the same gather as x[idx], ≈ 4× less overhead for a batch of 32
            x, y = (x_train, y_train) if idx is None else (x_train.index_select(0, idx), y_train.index_select(0, idx))
            if schedule is not None:
                lr = schedule(step)
                for group in opt.param_groups:
                    group["lr"] = lr
            if explicit is not None:
                loss, out, grads = explicit.single(weights, x, y, into=buffers)
                for p, g in zip(params, grads):
                    if p.grad is not g:  # once: afterwards .grad already is the buffer written in place
                        p.grad = g
            else:
                out = model(x)
                loss = loss_fn(out, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            losses.append(loss.detach())
            b = y.shape[0]  # not len(y): Tensor.__len__ is a Python function, ≈ 0.5 µs a call
            torch.argmax(out.detach(), 1, out=predicted[done:done + b])
            done += b
            step += 1
            if step % check_every == 0:
                recent = losses[-1] if check_every == 1 else torch.stack(losses[checked:]).sum()
                checked = len(losses)
                if not math.isfinite(recent.item()):
                    diverged = step
                    break
        sizes = torch.tensor([len(b) for b in batches] if order is not None else [n], dtype=torch.float64,
                             device=device)
        loss_total = (torch.stack(losses).double() @ sizes[:len(losses)]).item() if losses else 0.0
        if diverged is None and not math.isfinite(loss_total):
            diverged = step
        if diverged is None:
            labels = y_train if order is None else y_train.index_select(0, order)
            correct = (predicted == labels).sum().item()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        if diverged is not None:
            break
        elapsed += seconds
        t1 = time.perf_counter()
        if modes:
            opt.eval()
        val_loss, val_acc = evaluate(model, *held_out["val"], loss_fn)
        test_loss, test_acc = evaluate(model, *held_out["test"], loss_fn)
        if modes:
            opt.train()
        metrics = {
            "epoch": epoch, "train_loss": loss_total / n, "train_acc": correct / n,
            "val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc,
            "lr": opt.param_groups[0]["lr"], "seconds": seconds, "eval_seconds": time.perf_counter() - t1,
            "elapsed": elapsed, "steps": step, "steps_per_s": (step - epoch_start_step) / max(seconds, 1e-12),
            "state_bytes": state_bytes(opt),
            "peak_memory_bytes": peak_bytes(device),
            "shared_by": 1,
        }
        history.append(metrics)
        if reached is None and target is not None and val_acc is not None and val_acc >= target:
            reached = {"epoch": epoch, "seconds": elapsed, "steps": step}
        if checkpoint_path:
            ckpt.save(checkpoint_path, {"config": config.to_dict(), "epoch": epoch, "model": model.state_dict(),
                                        "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                                        "metrics": history, "time_to_target": reached})
        for cb in callbacks:
            cb.on_epoch_end(epoch, metrics)

    if modes:
        opt.eval()  # the model a schedule-free run returns is the averaged point it was evaluated at
    result = RunResult(config, "diverged" if diverged else "completed", history, diverged, reached, model)
    for cb in callbacks:
        cb.on_run_end(result)
    return result


def gradient_engine(model: nn.Module, task: Task, engine: str) -> MLPGradients | None:
    """The explicit-gradient engine for ``model`` when ``engine`` asks for it (or ``"auto"`` and it applies)."""
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "autograd":
        return None
    found = MLPGradients.of(model, task.loss)
    if found is None and engine == "explicit":
        raise UserError(f"task {task.name!r}: its network or loss is not one the explicit engine handles "
                        "(Linear, ReLU/LeakyReLU/Tanh/Sigmoid, flatten, residual sums; cross-entropy); "
                        "use engine='autograd'")
    return found


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes held by the tensors of the optimizer's per-parameter state."""
    return sum(v.nbytes for s in opt.state.values() for v in s.values() if torch.is_tensor(v))
