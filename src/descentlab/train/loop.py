"""Train one configuration: data preloaded as tensors, an epoch is a seeded permutation and index gathers.

What a run records, when it counts as diverged and how a schedule sets the learning rate is the training
protocol of :mod:`descentlab.train.core`, shared with the vectorized trainer; this module is how one model takes
its steps.

Divergence is tested every ``check_every`` updates (default 1 on CPU, where testing costs < 1 % of a step; 50
on accelerators, to avoid a device sync per step) on the sum of the training losses since the last test, and at
the end of each epoch by :class:`~descentlab.train.core.Divergence`. The reported ``diverged_step`` is the
1-based update at which a test failed.

Gradients come from :mod:`descentlab.train.engine`: by default the explicit engine for MLP-shaped networks
(checked against autograd once per process), autograd otherwise; ``RunResult.engine`` says which.

Schedule-free optimizers hold two points: the run trains at *y* and is evaluated (and checkpointed) at the
averaged *x*. A descentlab rule declares it (``Rule.averaged_iterate``); an optimizer from elsewhere is
recognised by its ``train()``/``eval()`` methods, the convention of the ``schedulefree`` package.

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

import torch
from torch import Tensor, nn

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.capabilities import averaged_iterate, takes_closure
from descentlab.schedules.adapter import write_value
from descentlab.tasks import Task, get_task
from descentlab.train import checkpoint as ckpt
from descentlab.train.callbacks import Callback
from descentlab.train.config import RunConfig
from descentlab.train.core import (
    START_EXAMPLES,
    RunTracker,
    StepLog,
    batch_size_of,
    epoch_generator,
    epoch_record,
    lr_at,
    permutation,
    run_random_stream,
    step_callbacks,
    total_updates,
)
from descentlab.train.denormals import flush_denormals
from descentlab.train.engine import ENGINES, engine_name, gradient_engine
from descentlab.train.memory import peak_bytes, reset_peak

EVAL_BATCH = 8192
__all__ = ["ENGINES", "EVAL_BATCH", "RunResult", "epoch_generator", "evaluate", "state_bytes", "train"]


@dataclass(frozen=True)
class RunResult:
    config: RunConfig
    status: str  # "completed" or "diverged" (or "failed", with ``error``, when the runner caught an exception)
    epochs: list[dict[str, Any]]
    diverged_step: int | None = None
    time_to_target: dict[str, Any] | None = None  # {"epoch", "seconds", "steps"} when val_acc first ≥ target
    model: nn.Module | None = field(default=None, repr=False, compare=False)
    engine: str | None = None  # which code computed the gradients: "explicit" or "autograd"
    steps: list[dict[str, Any]] | None = field(default=None, repr=False)  # per update, with log_steps=True
    error: str | None = None  # why a failed run failed

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "status": self.status, "epochs": self.epochs,
                "diverged_step": self.diverged_step, "time_to_target": self.time_to_target, "engine": self.engine,
                "steps": self.steps, "error": self.error}


@torch.inference_mode()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, loss_fn, batch: int = EVAL_BATCH, accuracy: bool = True
             ) -> tuple[Any, Any]:
    """(mean loss, accuracy) over ``x, y`` in large batches; ``(None, None)`` when empty; the accuracy is
    ``None`` with ``accuracy=False`` (a task whose metric is the loss)."""
    if len(y) == 0:
        return None, None
    was_training = model.training
    model.eval()
    losses, correct = [], torch.zeros((), device=x.device)
    for xb, yb in zip(x.split(batch), y.split(batch)):
        out = model(xb)
        losses.append(loss_fn(out, yb, reduction="none").reshape(-1))
        if accuracy:
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    return mean_loss(torch.cat(losses).unsqueeze(0), len(y))[0], correct.item() / len(y) if accuracy else None


def epoch_losses(step_losses: Tensor, sizes: Tensor, n: int) -> list[float]:
    """Per row of ``step_losses`` (``[K, updates]``: each batch's mean loss), the epoch's mean training loss: the
    batches' losses weighted by their ``sizes`` (float64) in one dot product, over ``n``. The loop (a stack of
    one) and :mod:`descentlab.train.vectorized` both call it, so the two agree bit for bit."""
    return [(row @ sizes).item() / n for row in step_losses.double()]


def mean_loss(losses: Tensor, n: int) -> list[float]:
    """Per row of ``losses`` (``[K, …]``, every per-example loss of a split), their float64 sum over ``n``: one
    sum over the whole split, whatever the evaluation batches were, so that a run evaluated alone (the loop) and
    in a stack (:mod:`descentlab.train.vectorized`, whose batches shrink with K) report the same loss bit for
    bit."""
    return (losses.double().sum(1) / n).tolist()


@flush_denormals()
def train(config: RunConfig, *, task: Task | None = None, splits=None, callbacks: Sequence[Callback] = (),
          checkpoint_path: str | Path | None = None, device: str | torch.device = "cpu",
          check_every: int | None = None, engine: str = "auto", max_steps: int | None = None,
          log_steps: bool = False, max_logged: int | None = None, held_out: bool = True) -> RunResult:
    """Train ``config``. ``task`` defaults to the registered task ``config.task``; ``splits`` to its data
    (loaded with ``config.val_fraction`` / ``config.data_seed``). With ``checkpoint_path``, the state is saved
    after every epoch and a run finds and resumes its own checkpoint there (another config's is an error).
    ``engine``: ``"auto"``, ``"explicit"`` or ``"autograd"`` (see :mod:`descentlab.train.engine`).
    ``max_steps``: end the run after that many updates (an unfinished epoch is not reported). ``log_steps``:
    keep every update's ``{"step", "lr", "loss"}`` (the batch's loss before the update) in ``RunResult.steps``
    (costs one synchronisation per logged update); ``max_logged``: at most that many, thinned by the rule of
    :class:`~descentlab.train.core.StepLog` (``None``: every update). ``held_out=False``: the validation and test
    splits are not evaluated after each epoch (their metrics are ``None``), for runs read by their training losses
    alone (lr-find's: on a dataset of one batch, every update is an epoch)."""
    task = task or get_task(config.task)
    splits = splits if splits is not None else task.load(val_fraction=config.val_fraction, seed=config.data_seed)
    device = torch.device(device)
    check_every = check_every or (1 if device.type == "cpu" else 50)
    reset_peak(device)
    with run_random_stream(config.seed, device):  # dropout & co. draw from the run's own stream
        return _train(config, task, splits, callbacks, checkpoint_path, device, check_every, engine, max_steps,
                      log_steps, max_logged, held_out)


def _train(config: RunConfig, task: Task, splits, callbacks: Sequence[Callback], checkpoint_path: str | Path | None,
           device: torch.device, check_every: int, engine: str, max_steps: int | None, log_steps: bool,
           max_logged: int | None, held_out: bool = True) -> RunResult:
    x_train, y_train = splits.x_train.to(device), splits.y_train.to(device)
    splits_out = {k: (getattr(splits, f"x_{k}").to(device), getattr(splits, f"y_{k}").to(device))
                  for k in ("val", "test")}
    model = task.build_model(config.seed, config.init).to(device)
    opt = optim.get(config.optimizer).create(model.parameters(), **config.hyperparameters)
    if config.schedule is not None and any("lr" not in group for group in opt.param_groups):
        raise UserError(f"optimizer {config.optimizer!r} has no 'lr' in its parameter groups: a schedule cannot set "
                        "its learning rate")
    explicit = gradient_engine(model, task, engine, (x_train, y_train))
    params = [p for _, p in model.named_parameters()]
    loss_fn = task.loss_fn
    classify = task.metric == "accuracy"  # else the loss is the metric: no accuracies (core's protocol)
    n = len(y_train)
    bs = batch_size_of(config, n)
    stepwise = step_callbacks(callbacks)
    logged: list[dict[str, Any]] | None = [] if log_steps else None
    total = total_updates(config, n)
    step_log = StepLog(total if max_steps is None else min(total, max_steps), max_logged)
    # Schedule-free optimizers train at y and are evaluated at the averaged x.
    modes = averaged_iterate(opt)

    tracker = RunTracker.of(task)
    step, elapsed, start_epoch = 0, 0.0, 0
    saved = ckpt.load(checkpoint_path, config.to_dict()) if checkpoint_path else None
    if saved:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        tracker.history, start_epoch, tracker.reached = saved["metrics"], saved["epoch"], saved["time_to_target"]
        tracker.divergence.start_loss = saved.get("start_loss")
        step, elapsed = tracker.history[-1]["steps"], tracker.history[-1]["elapsed"]
    else:
        head = slice(0, START_EXAMPLES)
        tracker.divergence.start_loss = evaluate(model, x_train[head], y_train[head], loss_fn, accuracy=classify)[0]
    for cb in callbacks:
        cb.on_run_start(config)

    model.train()
    if modes:
        opt.train()
    stopped = False
    weights = [p.detach() for p in params]  # views sharing storage: the optimizer's in-place updates show
    buffers = [torch.zeros_like(w) for w in weights] if explicit is not None else []
    closure = Reevaluate(model, loss_fn, params, explicit, weights, buffers) if takes_closure(opt) else None
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if max_steps is not None and step >= max_steps:
            break
        if config.batch_size == "full":  # one step on all the data: no permutation, no gather
            order, batches = None, [None]
        else:
            order = permutation(n, config.seed, epoch).to(device)
            batches = order.split(bs)
        # Per step, only what cannot wait: the loss (kept, summed at the end of the epoch) and the predicted
        # classes written into their place in the epoch's order. Summing and comparing on every step cost
        # ≈ 50 µs, a tenth of a small MLP's step.
        losses: list[Tensor] = []
        predicted = torch.empty(n if classify else 0, dtype=torch.int64, device=device)
        done, checked = 0, 0
        epoch_start_step = step
        t0 = time.perf_counter()
        for idx in batches:
            if max_steps is not None and step >= max_steps:
                stopped = True
                break
            # index_select: the same gather as x[idx], ≈ 4× less overhead for a batch of 32
            x, y = (x_train, y_train) if idx is None else (x_train.index_select(0, idx), y_train.index_select(0, idx))
            if config.schedule is not None:
                lr = lr_at(config, step)
                for group in opt.param_groups:
                    write_value(group, "lr", None, lr)
            if explicit is not None:
                loss, out, grads = explicit.single(weights, x, y, into=buffers)
                for p, g in zip(params, grads):
                    if p.grad is not g:  # once: afterwards .grad already is the buffer written in place
                        p.grad = g
            else:
                out = model(x)
                loss = loss_fn(out, y)
            keep = logged is not None and step_log.keeps(step)
            if stepwise or keep:
                value, lr_now = loss.item(), float(opt.param_groups[0]["lr"])
                if keep:
                    logged.append({"step": step, "lr": lr_now, "loss": value})
                if any([cb.on_step(step, lr_now, value) for cb in stepwise]):
                    stopped = True
                    break
            if explicit is None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
            if closure is None:
                opt.step()
            else:
                opt.step(closure.at(x, y, loss))
            losses.append(loss.detach())
            b = y.shape[0]  # not len(y): Tensor.__len__ is a Python function, ≈ 0.5 µs a call
            if classify:
                torch.argmax(out.detach(), 1, out=predicted[done:done + b])
            done += b
            step += 1
            if step % check_every == 0:
                recent = losses[-1] if check_every == 1 else torch.stack(losses[checked:]).sum()
                checked = len(losses)
                if not math.isfinite(recent.item()):
                    tracker.diverged = step
                    break
        if stopped or tracker.diverged is not None:
            break
        sizes = torch.tensor([len(b) for b in batches] if order is not None else [n], dtype=torch.float64,
                             device=device)
        train_loss = epoch_losses(torch.stack(losses).unsqueeze(0), sizes[:len(losses)], n)[0] if losses else 0.0
        if tracker.divergence.exploded(train_loss):
            tracker.diverged = step
            break
        if classify:
            labels = y_train if order is None else y_train.index_select(0, order)
            train_acc = (predicted == labels).sum().item() / n
        else:
            train_acc = None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        t1 = time.perf_counter()
        if modes:
            opt.eval()
        val, test = ((evaluate(model, *splits_out["val"], loss_fn, accuracy=classify),
                      evaluate(model, *splits_out["test"], loss_fn, accuracy=classify)) if held_out
                     else ((None, None), (None, None)))
        if modes:
            opt.train()
        metrics = epoch_record(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val=val, test=test,
                               lr=opt.param_groups[0]["lr"], seconds=seconds,
                               eval_seconds=time.perf_counter() - t1, elapsed=elapsed, steps=step,
                               epoch_steps=step - epoch_start_step, state_bytes=state_bytes(opt),
                               peak_memory_bytes=peak_bytes(device), shared_by=1)
        tracker.add(metrics)
        if checkpoint_path:
            ckpt.save(checkpoint_path, {"config": config.to_dict(), "epoch": epoch, "model": model.state_dict(),
                                        "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                                        "metrics": tracker.history, "time_to_target": tracker.reached,
                                        "start_loss": tracker.divergence.start_loss})
        for cb in callbacks:
            cb.on_epoch_end(epoch, metrics)

    if modes:
        opt.eval()  # the model a schedule-free run returns is the averaged point it was evaluated at
    result = RunResult(config, tracker.status, tracker.history, tracker.diverged, tracker.reached, model,
                       engine_name(explicit), logged)
    for cb in callbacks:
        cb.on_run_end(result)
    return result


class Reevaluate:
    """The closure handed to an optimizer whose ``step`` takes one (:func:`~descentlab.optim.capabilities.
    takes_closure`: ``torch.optim.LBFGS``, SAM): each call sets the parameters' ``.grad`` to the gradient of the
    batch's mean loss at the current weights and returns that loss (detached), as a hand-written
    ``zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss`` does.

    The trainer has already evaluated the batch at the weights the step starts from, so a call that finds the
    weights and gradients as the trainer left them (their version counters unchanged) returns that loss without a
    second forward and backward pass: an optimizer that calls its closure once, first (torch's Adam), costs and
    computes exactly what it does without one. A call after the optimizer moved the weights (LBFGS's line search,
    SAM's ascent step) or cleared the gradients evaluates the batch again, with the run's gradient engine."""

    def __init__(self, model: nn.Module, loss_fn, params: list[Tensor], explicit, weights: list[Tensor],
                 buffers: list[Tensor]) -> None:
        self.model, self.loss_fn, self.params = model, loss_fn, params
        self.explicit, self.weights, self.buffers = explicit, weights, buffers
        self.batch: tuple[Tensor, Tensor] | None = None
        self.loss: Tensor | None = None
        self.seen: list[tuple[int, int | None, int | None]] | None = None

    def _versions(self) -> list[tuple[int, int | None, int | None]]:
        return [(p._version, None if p.grad is None else id(p.grad), None if p.grad is None else p.grad._version)
                for p in self.params]

    def at(self, x: Tensor, y: Tensor, loss: Tensor) -> Reevaluate:
        """This closure for the batch ``(x, y)`` whose ``loss`` (and gradients) the trainer just computed."""
        self.batch, self.loss, self.seen = (x, y), loss.detach(), self._versions()
        return self

    def __call__(self) -> Tensor:
        assert self.batch is not None and self.loss is not None
        if self.seen is not None and self._versions() == self.seen:
            self.seen = None
            return self.loss
        self.seen = None
        x, y = self.batch
        with torch.enable_grad():
            if self.explicit is not None:
                loss, _, grads = self.explicit.single(self.weights, x, y, into=self.buffers)
                for p, g in zip(self.params, grads):
                    p.grad = g
            else:
                for p in self.params:
                    p.grad = None
                loss = self.loss_fn(self.model(x), y)
                loss.backward()
        return loss.detach()


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes held by the tensors of the optimizer's per-parameter state."""
    return sum(v.nbytes for s in opt.state.values() for v in s.values() if torch.is_tensor(v))
