"""Train K configurations of one architecture in one pass, parameters stacked along a leading axis K.

>>> from descentlab.train import RunConfig
>>> from descentlab.train.vectorized import train_vectorized
>>> configs = [RunConfig.build("digits-mlp", "adam", {"lr": lr}, epochs=2) for lr in (1e-3, 3e-3, 1e-2)]
>>> results = train_vectorized(configs)        # doctest: +SKIP   (same RunResults as train(c) for each c)

Each configuration keeps everything the single-run loop (:mod:`descentlab.train.loop`) gives it:

- its initial weights are ``task.build_model(seed, init)``'s (K models built, their state_dicts stacked);
- its data order is the loop's permutation for its seed, ``randperm(n, epoch_generator(seed, epoch))``: one
  shared batch when every configuration has the same seed, else one gathered batch per configuration,
  ``x[idx]`` with ``idx`` of shape ``[K, B]``;
- its update is its rule's own ``update`` (or the rule's ``fused`` kernel, proven equal to it). Configurations
  are sorted so that each group of one rule and the same flags owns a contiguous slice ``[a:b]`` of the K axis;
  the rule is applied to the slice views ``p[a:b]``, ``g[a:b]`` with the hyperparameters that differ inside the
  group as tensors of shape ``[b - a, 1, ...]``. ``update="auto"`` instead splits a group whose rule has a fused
  kernel into runs of identical hyperparameters and calls the kernel once per run (on this CPU, torch's fused
  Adam per configuration is ≈ 6× faster than the eager rule over tensor hyperparameters, which makes ~9 passes
  over memory); ``"tensor"`` always uses the tensor-hyperparameter rule; ``"runs"`` always splits.
- its metrics: the loop's per-epoch keys, computed per configuration from the stacked forward. ``seconds``,
  ``eval_seconds``, ``elapsed`` and ``steps_per_s`` are those of the whole pass (shared by its K configurations).

Divergence: a configuration whose loss is non-finite is masked out of the summed loss (``torch.where``, so its
NaNs reach no other row), recorded ``diverged`` at that 1-based step, and removed from the stack before the
update: its final parameters are those that produced the non-finite loss (the loop's model has that step's
update applied too). The others go on unchanged. As in the loop, the test runs every ``check_every`` steps
(1 on CPU, 50 on accelerators) and the unfinished epoch of a diverged configuration is not reported.

Not supported (raise :class:`~descentlab.errors.UserError`; :func:`unsupported_reason` says why): optimizers
whose front-end does bookkeeping of its own in ``step`` (schedule-free), models with buffers, checkpoints and
callbacks.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.base import RuleOptimizer
from descentlab.rules.base import HyperparameterError, Rule
from descentlab.tasks import Task, get_task
from descentlab.train.config import RunConfig
from descentlab.train.denormals import flush_denormals
from descentlab.train.loop import EVAL_BATCH, RunResult, epoch_generator, gradient_engine
from descentlab.train.memory import peak_bytes, reset_peak
from descentlab.train.stacked import stack_models, stacked_forward

UPDATE_MODES = ("auto", "tensor", "runs")


# --- which configurations can share a pass -------------------------------------------------------------------


def pass_key(config: RunConfig) -> tuple[Any, ...]:
    """Configurations with equal keys can be trained in one pass (same task, data, batch size and epochs)."""
    return (config.task, config.batch_size, config.epochs, config.val_fraction, config.data_seed)


def unsupported_reason(config: RunConfig) -> str | None:
    """Why ``config`` cannot be vectorized, or ``None`` when it can."""
    cls = optim.get(config.optimizer).cls
    if not issubclass(cls, RuleOptimizer):
        return f"optimizer {config.optimizer!r} is not a descentlab rule"
    if inspect.unwrap(cls.step) is not inspect.unwrap(RuleOptimizer.step):  # torch patches step with hooks
        return f"optimizer {config.optimizer!r} keeps bookkeeping of its own in step() ({cls.__name__})"
    return None


def vectorizable_groups(configs: Sequence[RunConfig], max_size: int | None = None) -> list[list[int]]:
    """Indices of ``configs`` split into passes for :func:`train_vectorized`, in order of first appearance.

    Configurations share a pass when their :func:`pass_key` is equal; one that cannot be vectorized
    (:func:`unsupported_reason`) is a group of its own, for the single-run loop. ``max_size`` caps a group.
    """
    groups: dict[Any, list[int]] = {}
    for i, c in enumerate(configs):
        key = ("alone", i) if unsupported_reason(c) else pass_key(c)
        groups.setdefault(key, []).append(i)
    out: list[list[int]] = []
    for members in groups.values():
        step = max_size or len(members)
        out.extend(members[i:i + step] for i in range(0, len(members), step))
    return out


# --- optimizer groups on slices of the K axis ----------------------------------------------------------------


@dataclass
class _Slot:
    """One rule applied to rows ``[a:b]`` of every stacked parameter, with its own state per parameter."""

    rule: Rule
    fused: bool
    members: list[int]                 # config indices (into the sorted list), one per row
    hypers: list[dict[str, Any]]       # the members' resolved hyperparameters
    schedules: list[Any]
    a: int = 0
    states: list[dict[str, Any]] = field(default_factory=list)
    h: list[dict[str, Any]] = field(default_factory=list)  # per parameter: Python values or [n, 1, ...] tensors

    @property
    def b(self) -> int:
        return self.a + len(self.members)

    def build_h(self, params: list[Tensor], original_ndim: list[int]) -> None:
        self.h = [_merge(self.hypers, p, nd) for p, nd in zip(params, original_ndim)]

    def set_lr(self, step: int, params: list[Tensor]) -> None:
        if all(s is None for s in self.schedules):
            return
        lrs = [h["lr"] if s is None else s(step) for h, s in zip(self.hypers, self.schedules)]
        for h, p in zip(self.h, params):
            h["lr"] = lrs[0] if len(set(lrs)) == 1 else _column(lrs, p)

    def update(self, ps: list[Tensor], gs: list[Tensor]) -> None:
        """Apply the rule to the slot's rows ``ps`` (views ``p[a:b]`` of the stacked parameters) and ``gs``."""
        if self.fused:  # torch's CPU fused kernels read a non-contiguous gradient in memory order: wrong values
            gs = [g if g.is_contiguous() else g.contiguous() for g in gs]
        if not self.states:
            self.states = [self.rule.init_state(p, h) for p, h in zip(ps, self.h)]
        if self.fused and self.rule.fused(ps, gs, self.states, self.h[0]):
            return
        for p, g, s, h in zip(ps, gs, self.states, self.h):
            self.rule.update(p, g, s, h)

    def keep(self, local: list[int], params: list[Tensor], original_ndim: list[int]) -> None:
        """Keep only the rows ``local`` (positions within the slot); state rows follow."""
        n, index = len(self.members), torch.tensor(local, dtype=torch.long)
        self.members = [self.members[i] for i in local]
        self.hypers = [self.hypers[i] for i in local]
        self.schedules = [self.schedules[i] for i in local]
        for state in self.states:
            for key, v in state.items():
                if torch.is_tensor(v) and v.ndim >= 1 and v.shape[0] == n:
                    state[key] = v.index_select(0, index.to(v.device))
        self.build_h(params, original_ndim)

    def state_bytes(self) -> float:
        """Bytes of optimizer state per configuration (a tensor shared by the slot, e.g. ``step``, counts whole)."""
        n, total = len(self.members), 0.0
        for state in self.states:
            for v in state.values():
                if torch.is_tensor(v):
                    total += v.nbytes / n if v.ndim >= 1 and v.shape[0] == n else v.nbytes
        return total


def _column(values: list[float], p: Tensor) -> Tensor:
    return torch.tensor(values, dtype=p.dtype, device=p.device).view(-1, *([1] * (p.ndim - 1)))


def _merge(hypers: list[dict[str, Any]], p: Tensor, original_ndim: int) -> dict[str, Any]:
    """The slot's hyperparameters for parameter ``p``: shared values as they are, differing numbers as columns."""
    h: dict[str, Any] = {}
    for key, first in hypers[0].items():
        values = [hp[key] for hp in hypers]
        if all(v == first for v in values):
            h[key] = first
        elif isinstance(first, (tuple, list)):
            h[key] = type(first)(
                vs[0] if all(v == vs[0] for v in vs) else _column(list(vs), p) for vs in zip(*values))
        else:
            h[key] = _column(values, p)
    if h.get("use_muon", False) is None:  # Muon's "2-D parameters", judged on the unstacked shape
        h["use_muon"] = original_ndim == 2
    return h


def _structural_keys(rule: Rule, hypers: list[dict[str, Any]]) -> list[str]:
    """Hyperparameter names whose differing values must split a group: flags, non-numbers, and numbers that the
    rule does not accept as tensors (asked of the rule's own ``validate``)."""
    keys = []
    for key, first in hypers[0].items():
        values = [h[key] for h in hypers]
        if key in rule.flags or all(v == first for v in values):
            if key in rule.flags:
                keys.append(key)
            continue
        flat = [x for v in values for x in (v if isinstance(v, (tuple, list)) else [v])]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
            keys.append(key)
            continue
        try:
            trial = dict(hypers[0])
            trial[key] = (tuple(torch.tensor([float(x) for x in col]) for col in zip(*values))
                          if isinstance(first, (tuple, list)) else torch.tensor([float(v) for v in values]))
            rule.validate(trial)
        except (HyperparameterError, TypeError, ValueError):
            keys.append(key)
    return keys


def _plan(configs: list[RunConfig], mode: str) -> tuple[list[int], list[_Slot]]:
    """The order of the configurations on the K axis and the slots that update them."""
    rules = [optim.get(c.optimizer).cls.rule for c in configs]
    by_rule: dict[int, list[int]] = {}
    for i, r in enumerate(rules):
        by_rule.setdefault(id(r), []).append(i)
    order: list[int] = []
    slots: list[_Slot] = []
    for members in by_rule.values():
        rule = rules[members[0]]
        hypers = [dict(configs[i].hyperparameters) for i in members]
        structural = _structural_keys(rule, hypers)
        groups: dict[str, list[int]] = {}
        for i, h in zip(members, hypers):
            groups.setdefault(repr([(k, h[k]) for k in structural]), []).append(i)
        for group in groups.values():
            split = mode == "runs" or (mode == "auto" and rule.fused is not None)
            if split:
                runs: dict[str, list[int]] = {}
                for i in group:
                    runs.setdefault(repr((sorted(configs[i].hyperparameters.items()), id(configs[i].schedule))),
                                    []).append(i)
                parts = list(runs.values())
            else:
                parts = [group]
            for part in parts:
                slot = _Slot(rule, fused=split and rule.fused is not None, members=part,
                             hypers=[dict(configs[i].hyperparameters) for i in part],
                             schedules=[configs[i].schedule for i in part], a=len(order))
                order.extend(part)
                slots.append(slot)
    return order, slots


# --- training -----------------------------------------------------------------------------------------------


@flush_denormals()
def train_vectorized(configs: Sequence[RunConfig], *, task: Task | None = None, splits=None,
                     device: str | torch.device = "cpu", check_every: int | None = None, update: str = "auto",
                     forward: str = "auto", engine: str = "auto") -> list[RunResult]:
    """Train ``configs`` (one :func:`pass_key`) together; one :class:`RunResult` per config, in order.

    ``update``: ``"auto"`` | ``"tensor"`` | ``"runs"`` (see the module docstring). ``forward``: ``"auto"`` |
    ``"bmm"`` | ``"vmap"`` (see :mod:`descentlab.train.stacked`), for autograd and evaluation. ``engine``:
    ``"auto"`` | ``"explicit"`` | ``"autograd"``, as in :func:`descentlab.train.loop.train`: by default the
    gradients of MLP-shaped networks come from :class:`~descentlab.train.mlp_gradients.MLPGradients`, K copies
    at once. ``task`` and ``splits`` as in :func:`descentlab.train.loop.train`.
    """
    configs = list(configs)
    if not configs:
        return []
    if update not in UPDATE_MODES:
        raise UserError(f"update must be one of {', '.join(UPDATE_MODES)}, got {update!r}")
    if len({pass_key(c) for c in configs}) != 1:
        raise UserError("configurations of one vectorized pass need the same task, data split, batch size and "
                        "epochs; split them with vectorizable_groups()")
    for c in configs:
        reason = unsupported_reason(c)
        if reason:
            raise UserError(f"cannot vectorize: {reason}")
    first = configs[0]
    task = task or get_task(first.task)
    splits = splits if splits is not None else task.load(val_fraction=first.val_fraction, seed=first.data_seed)
    device = torch.device(device)
    check_every = check_every or (1 if device.type == "cpu" else 50)
    run = _Pass(configs, task, splits, device, update, forward, engine)
    return run.train(check_every)


class _Pass:
    """The state of one vectorized pass: the stack, its slots, which configurations are still in it."""

    def __init__(self, configs: list[RunConfig], task: Task, splits, device: torch.device, update: str,
                 forward: str, engine: str) -> None:
        self.task, self.device = task, device
        self.order, self.slots = _plan(configs, update)
        self.configs = [configs[i] for i in self.order]       # sorted: row r of the stack is self.rows[r]
        self.models = [task.build_model(c.seed, c.init) for c in self.configs]
        if any(True for _ in self.models[0].buffers()):
            raise UserError(f"cannot vectorize task {task.name!r}: its model has buffers")
        self.forward, self.path = stacked_forward(self.models[0], forward)
        self.engine = gradient_engine(self.models[0], task, engine)
        stacked = stack_models(self.models)
        self.names = list(stacked)
        if self.engine is not None and self.engine.names != self.names:
            self.engine = None  # the engine wants named_parameters() order; the stack follows the state_dict
        self.leaves = [stacked[n].to(device).requires_grad_(True) for n in self.names]
        self.original_ndim = [t.ndim - 1 for t in self.leaves]
        self.rows = list(range(len(self.configs)))
        self.x_train, self.y_train = splits.x_train.to(device), splits.y_train.to(device)
        self.held_out = {k: (getattr(splits, f"x_{k}").to(device), getattr(splits, f"y_{k}").to(device))
                         for k in ("val", "test")}
        data = self._data()
        for slot in self.slots:
            slot.build_h(data, self.original_ndim)
        k = len(self.configs)
        self.history: list[list[dict[str, Any]]] = [[] for _ in range(k)]
        self.diverged: list[int | None] = [None] * k
        self.final: list[dict[str, Tensor] | None] = [None] * k
        self.bytes: list[float] = [0.0] * k

    def _data(self) -> list[Tensor]:
        return [leaf.detach() for leaf in self.leaves]

    def _params(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.leaves))

    def train(self, check_every: int) -> list[RunResult]:
        reset_peak(self.device)
        first = self.configs[0]
        n = len(self.y_train)
        bs = n if first.batch_size == "full" else min(first.batch_size, n)
        loss_fn = self.task.loss_fn
        step, elapsed = 0, 0.0
        reached: list[dict[str, Any] | None] = [None] * len(self.configs)
        for epoch in range(1, first.epochs + 1):
            if not self.rows:
                break
            perms = self._permutations(epoch, n)
            param_rows = None  # each slot's views of the stacked parameters, until a row is dropped
            loss_sum = torch.zeros(len(self.rows), device=self.device)
            correct = torch.zeros(len(self.rows), device=self.device, dtype=torch.int64)
            epoch_start_step = step
            t0 = time.perf_counter()
            starts = [None] if perms is None else list(range(0, n, bs))
            for start in starts:
                per_config = perms is not None and perms.ndim == 2
                if perms is None:
                    x, y = self.x_train, self.y_train
                else:
                    idx = perms[..., start:start + bs]
                    flat = idx.reshape(-1)  # index_select: x[idx]'s gather with less overhead
                    x = self.x_train.index_select(0, flat).view(*idx.shape, *self.x_train.shape[1:])
                    y = self.y_train.index_select(0, flat).view(idx.shape)
                data = self._data()
                for slot in self.slots:
                    slot.set_lr(step, data)
                if self.engine is not None:  # rows are independent: a non-finite row reaches no other
                    losses, out, grads = self.engine(data, x, y, per_config)
                    k, b = out.shape[0], out.shape[1]
                    yk = y if per_config else y.expand(k, b)
                else:
                    out = self.forward(self._params(), x, per_config)
                    k, b = out.shape[0], out.shape[1]
                    yk = y if per_config else y.expand(k, b)
                    losses = loss_fn(out.reshape(k * b, -1), yk.reshape(-1), reduction="none").view(k, b).mean(1)
                    finite = torch.isfinite(losses.detach())
                    total = torch.where(finite, losses, torch.zeros_like(losses)).sum()
                    grads = list(torch.autograd.grad(total, self.leaves))
                step += 1
                with torch.no_grad():
                    loss_sum.add_(losses.detach(), alpha=b)
                    correct.add_((out.detach().argmax(-1) == yk).sum(1))
                if step % check_every == 0 or start == starts[-1]:
                    bad = ~torch.isfinite(loss_sum)
                    if bool(bad.any()):
                        keep = self._drop(bad.nonzero().flatten().tolist(), step)
                        if not self.rows:
                            break
                        grads = [g[keep] for g in grads]
                        loss_sum, correct = loss_sum[keep], correct[keep]
                        if perms is not None and perms.ndim == 2:
                            perms = perms[keep]
                        data = self._data()
                        param_rows = None
                with torch.no_grad():
                    if param_rows is None:
                        param_rows = self._rows(data)
                    for slot, ps, gs in zip(self.slots, param_rows, self._rows(grads)):
                        slot.update(ps, gs)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - t0
            if not self.rows:
                break
            elapsed += seconds
            t1 = time.perf_counter()
            held = {k: self._evaluate(*v) for k, v in self.held_out.items()}
            eval_seconds = time.perf_counter() - t1
            self._state_bytes()
            train_loss, train_acc = (loss_sum / n).tolist(), (correct.double() / n).tolist()
            for r, row in enumerate(self.rows):
                c = self.configs[row]
                val_loss, val_acc = held["val"][0][r], held["val"][1][r]
                lr = c.schedule(step - 1) if c.schedule is not None else c.hyperparameters.get("lr")
                self.history[row].append({
                    "epoch": epoch, "train_loss": train_loss[r], "train_acc": train_acc[r],
                    "val_loss": val_loss, "val_acc": val_acc,
                    "test_loss": held["test"][0][r], "test_acc": held["test"][1][r],
                    "lr": lr, "seconds": seconds, "eval_seconds": eval_seconds, "elapsed": elapsed, "steps": step,
                    "steps_per_s": (step - epoch_start_step) / max(seconds, 1e-12),
                    "state_bytes": int(self.bytes[row]),
                    "peak_memory_bytes": peak_bytes(self.device),  # of the whole pass
                    "shared_by": len(self.rows),  # the seconds above are the pass's, for all of them
                })
                target = self.task.target_val_acc
                if reached[row] is None and target is not None and val_acc is not None and val_acc >= target:
                    reached[row] = {"epoch": epoch, "seconds": elapsed, "steps": step}
        for r, row in enumerate(self.rows):
            self.final[row] = {name: leaf[r].detach().clone() for name, leaf in zip(self.names, self.leaves)}
        results = []
        for row, c in enumerate(self.configs):
            self.models[row].load_state_dict(self.final[row])
            status = "diverged" if self.diverged[row] is not None else "completed"
            results.append(RunResult(c, status, self.history[row], self.diverged[row], reached[row],
                                     self.models[row]))
        unsorted: list[RunResult | None] = [None] * len(results)
        for pos, original in enumerate(self.order):
            unsorted[original] = results[pos]
        return unsorted  # type: ignore[return-value]

    def _permutations(self, epoch: int, n: int) -> Tensor | None:
        """``None`` (full batch), one shared permutation ``[n]``, or one per configuration ``[K, n]``."""
        if self.configs[0].batch_size == "full":
            return None
        seeds = [self.configs[row].seed for row in self.rows]
        cache = {s: torch.randperm(n, generator=epoch_generator(s, epoch)) for s in dict.fromkeys(seeds)}
        if len(cache) == 1:
            return cache[seeds[0]].to(self.device)
        return torch.stack([cache[s] for s in seeds]).to(self.device)

    def _rows(self, tensors: list[Tensor]) -> list[list[Tensor]]:
        """Per slot, its rows ``t[a:b]`` of each stacked tensor (one ``split`` per tensor, not one slice per slot)."""
        sizes = [len(slot.members) for slot in self.slots]
        return [list(rows) for rows in zip(*(t.split(sizes) for t in tensors))]

    def _drop(self, bad: list[int], step: int) -> Tensor:
        """Record the rows ``bad`` as diverged at ``step``, remove them from the stack; the kept positions."""
        self._state_bytes()
        for r in bad:
            row = self.rows[r]
            self.diverged[row] = step
            self.final[row] = {name: leaf[r].detach().clone() for name, leaf in zip(self.names, self.leaves)}
        keep_positions = [r for r in range(len(self.rows)) if r not in set(bad)]
        keep = torch.tensor(keep_positions, dtype=torch.long, device=self.device)
        self.rows = [self.rows[r] for r in keep_positions]
        with torch.no_grad():
            self.leaves = [leaf.detach()[keep].requires_grad_(True) for leaf in self.leaves]
        data = self._data()
        slots, a = [], 0
        for slot in self.slots:
            local = [i for i in range(len(slot.members)) if slot.a + i in set(keep_positions)]
            if not local:
                continue
            slot.a = a
            slot.keep(local, data, self.original_ndim)
            a = slot.b
            slots.append(slot)
        self.slots = slots
        return keep

    def _state_bytes(self) -> None:
        for slot in self.slots:
            per = slot.state_bytes()
            for i in range(len(slot.members)):
                self.bytes[self.rows[slot.a + i]] = per

    @torch.inference_mode()
    def _evaluate(self, x: Tensor, y: Tensor) -> tuple[list[Any], list[Any]]:
        """Per-configuration (mean loss, accuracy) over ``x, y``; lists of ``None`` when empty."""
        k = len(self.rows)
        if len(y) == 0:
            return [None] * k, [None] * k
        params = self._params()
        loss = torch.zeros(k, device=x.device, dtype=torch.float64)
        correct = torch.zeros(k, device=x.device, dtype=torch.int64)
        batch = EVAL_BATCH if self.path == "bmm" else max(1, EVAL_BATCH // k)
        for xb, yb in zip(x.split(batch), y.split(batch)):
            out = self.forward(params, xb, False)
            b = len(yb)
            losses = self.task.loss_fn(out.reshape(k * b, -1), yb.repeat(k), reduction="none").view(k, b)
            loss += losses.sum(1).double()
            correct += (out.argmax(-1) == yb).sum(1)
        return (loss / len(y)).tolist(), (correct.double() / len(y)).tolist()
