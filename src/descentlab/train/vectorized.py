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
  group as tensors of shape ``[b - a, 1, ...]`` (``update="tensor"``). ``update="auto"`` (the default, and
  ``"runs"``) instead splits every group into runs of identical hyperparameters and schedule, and applies the
  rule with Python numbers: to the run's rows at once, or, for a rule with a fused kernel, the kernel to each
  member's own rows ``p[i]``. That is what makes a configuration's numbers **the same bit for bit whatever
  trains beside it** (its row, how many share its pass, their hyperparameters): a tensor coefficient rounds
  differently from a Python number (``(g / v)·lr`` against ``lr·g / v``; ``1 − βᵗ`` in float32 against float64),
  and torch's fused CPU kernels round their scalar tail differently from their vectorized body, so the rows of
  one long tensor that fall in the tail would depend on the group. (It costs little where it matters: a
  16-rate RMSprop pass on Fashion-MNIST ran as fast; on the 8×8 digits MLP, where launches dominate, 1.6–2.3×
  slower than ``"tensor"``.) Networks that take the ``vmap`` path (convolutions) are the exception: torch
  batches their layers into one grouped kernel whose rounding depends on how many are stacked (see
  :mod:`descentlab.train.stacked`). Narrow layers on the ``bmm`` path are handled in
  :func:`~descentlab.train.mlp_gradients.linear` (:func:`~descentlab.train.mlp_gradients.stack_agrees`). On a
  GPU, where this is not claimed (its batched products are other kernels too), ``"auto"`` is ``"tensor"``: one
  launch per operation and parameter where K runs would be K launches (a fused kernel's too). Measured on an H200
  (BENCHMARKS.md, "On a GPU"; two runs on two machines whose one-run-after-another rows agreed within 1 %): 16
  Adam rates, one epoch, trained in 2.1 s as tensors against 9.4 s as 16 fused-kernel calls a step (the second on
  random data of Fashion-MNIST's shape); 64 rates on 12,000 examples in 0.68 s against 8.4 s.
- its record, time to target, divergence rule and learning rate per update: the training protocol of
  :mod:`descentlab.train.core`, the same calls the loop makes, per configuration. ``seconds``,
  ``eval_seconds``, ``elapsed`` and ``steps_per_s`` are those of the whole pass (shared by its K configurations,
  ``shared_by`` says how many).

Divergence (the rule of :class:`~descentlab.train.core.Divergence`): a configuration whose loss is non-finite is
masked out of the summed loss (``torch.where``, so its NaNs reach no other row), recorded ``diverged`` at that
1-based step, and removed from the stack before the update: its final parameters are those that produced the
non-finite loss (the loop's model has that step's update applied too). One whose epoch mean exploded is removed
at the end of that epoch. The others go on unchanged. As in the loop, the non-finite test runs every
``check_every`` steps (1 on CPU, 50 on accelerators) and the unfinished epoch of a diverged configuration is not
reported.

What a rule needs is read from its declarations (:class:`~descentlab.rules.base.Rule`): ``fixed``
hyperparameters split slots, ``for_shape`` gives shape-dependent hyperparameters (Muon) from each parameter's
unstacked shape, and a rule with ``group_state`` (schedule-free's per-group counters) is not vectorized.

Not supported (raise :class:`~descentlab.errors.UserError`; :func:`unsupported_reason` says why): optimizers that
are not descentlab rules, rules with ``group_state``, models with buffers, frozen or shared (tied) parameters
(:func:`unstackable`), checkpoints and callbacks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from descentlab import optim
from descentlab.errors import UserError
from descentlab.optim.capabilities import rule_of
from descentlab.rules.base import Rule, follow_lr
from descentlab.tasks import Task, get_task
from descentlab.train.config import RunConfig, describe_schedule
from descentlab.train.core import (
    START_EXAMPLES,
    RunTracker,
    StepLog,
    batch_size_of,
    epoch_record,
    lr_at,
    permutation,
    total_updates,
)
from descentlab.train.denormals import flush_denormals
from descentlab.train.engine import engine_name, gradient_engine
from descentlab.train.loop import EVAL_BATCH, RunResult, epoch_losses, mean_loss
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
    rule = rule_of(cls)
    if rule is None:
        return f"optimizer {config.optimizer!r} is not a descentlab rule"
    if rule.group_state:
        return (f"optimizer {config.optimizer!r} keeps per-group state that its step() advances "
                f"({cls.__name__}); it trains one run at a time")
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


def unstackable(model: nn.Module) -> str | None:
    """Why K copies of ``model`` cannot be trained as one stack of their ``state_dict`` tensors, or ``None``:
    buffers (BatchNorm's running statistics follow their own updates, and train/eval modes), a parameter with
    ``requires_grad=False`` (frozen: the stack would train it), or a parameter reached under two names (tied
    weights: the stack would hold two copies that drift apart). Such a task trains one run at a time."""
    if any(True for _ in model.buffers()):
        return "its model has buffers"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    if frozen:
        return f"its model has frozen parameters (requires_grad=False: {', '.join(frozen[:3])})"
    named = dict(model.named_parameters(remove_duplicate=False))
    if len(named) != len(dict(model.named_parameters())):
        seen: dict[int, str] = {}
        tied = [f"{seen[id(p)]} = {n}" for n, p in named.items() if seen.setdefault(id(p), n) != n]
        return f"its model shares parameters between layers ({', '.join(tied[:3])})"
    return None


# --- optimizer groups on slices of the K axis ----------------------------------------------------------------


@dataclass
class _Slot:
    """One rule applied to rows ``[a:b]`` of every stacked parameter, with its own state per parameter."""

    rule: Rule
    fused: bool
    members: list[int]                 # config indices (into the sorted list), one per row
    hypers: list[dict[str, Any]]       # the members' resolved hyperparameters
    configs: list[RunConfig]
    a: int = 0
    states: list[dict[str, Any]] = field(default_factory=list)
    h: list[dict[str, Any]] = field(default_factory=list)  # per parameter: Python values or [n, 1, ...] tensors
    sets: list[list[int]] = field(default_factory=list)  # fused: parameter indices of equal h (see build_h)
    lr_step: int | None = None  # the update whose scheduled lr h holds (set_lr), for keep to write it again

    @property
    def b(self) -> int:
        return self.a + len(self.members)

    def build_h(self, params: list[Tensor]) -> None:
        self.h = [_merge(self.rule, self.hypers, p) for p in params]
        # a fused slot's parameters that one kernel call takes together: those of equal hyperparameters (they
        # differ by shape for Muon). Its members share one schedule, so set_lr writes one lr into every h and the
        # sets hold until the next build_h. (A tensor-hyperparameter slot's columns would not compare as bools.)
        self.sets = []
        for j, h in enumerate(self.h if self.fused else ()):
            same = next((s for s in self.sets if self.h[s[0]] == h), None)
            if same is None:
                self.sets.append([j])
            else:
                same.append(j)

    def set_lr(self, step: int, params: list[Tensor]) -> None:
        if all(c.schedule is None for c in self.configs):
            return
        self.lr_step = step
        lrs = [lr_at(c, step) for c in self.configs]
        # Hyperparameters that follow lr (Muon's adamw_lr) scale with it, as the optimizer class scales them: each
        # member's own value × its lr / the lr it was configured with, in Python numbers (the loop's bits).
        following = {key: [follow_lr(hp[key], lr, hp["lr"]) for hp, lr in zip(self.hypers, lrs)]
                     for key in self.rule.follows_lr}
        columns: dict[tuple[str, torch.dtype, int], Tensor] = {}  # one per step, not one per parameter
        for h, p in zip(self.h, params):
            for key, values in (("lr", lrs), *following.items()):
                if len(set(values)) == 1:
                    h[key] = values[0]
                    continue
                made = columns.get((key, p.dtype, p.ndim))
                if made is None:
                    made = columns[(key, p.dtype, p.ndim)] = _column(values, p)
                h[key] = made

    def update(self, ps: list[Tensor], gs: list[Tensor]) -> None:
        """Apply the rule to the slot's rows ``ps`` (views ``p[a:b]`` of the stacked parameters) and ``gs``."""
        if self.fused:
            self._update_fused(ps, gs)
            return
        if not self.states:
            self.states = [self.rule.init_state(p, h) for p, h in zip(ps, self.h)]
        for p, g, s, h in zip(ps, gs, self.states, self.h):
            self.rule.update(p, g, s, h)

    def _update_fused(self, ps: list[Tensor], gs: list[Tensor]) -> None:
        """The fused kernel on each member's own rows ``p[i]`` (every member holds identical hyperparameters).

        Not on the stacked ``p[a:b]`` as one tensor: torch's CPU fused kernels run a vectorized body and a scalar
        tail whose roundings differ (Adam: by an ulp), and which elements fall in the tail of one long tensor
        depends on the member's row and on how many share the slot. Member by member, each configuration's update
        is the single-run loop's, whatever trains beside it. So the state is kept per (parameter, member):
        ``states[j * n + i]``."""
        n = len(self.members)
        # torch's CPU fused kernels read a non-contiguous gradient in memory order: wrong values
        gs = [g if g.is_contiguous() else g.contiguous() for g in gs]
        if not self.states:
            self.states = [self.rule.init_state(p[i], h) for p, h in zip(ps, self.h) for i in range(n)]
        for js in self.sets:  # one kernel call per set of parameters with equal hyperparameters
            at = [(j, i) for j in js for i in range(n)]
            params, grads = [ps[j][i] for j, i in at], [gs[j][i] for j, i in at]
            states = [self.states[j * n + i] for j, i in at]
            if not self.rule.fused(params, grads, states, self.h[js[0]]):
                for (j, _), p, g, s in zip(at, params, grads, states):
                    self.rule.update(p, g, s, self.h[j])

    def keep(self, local: list[int], params: list[Tensor]) -> None:
        """Keep only the rows ``local`` (positions within the slot); state rows follow, and so does the scheduled
        lr of the update under way (build_h starts again from the configured one)."""
        self._keep(local, params)
        if self.lr_step is not None:
            self.set_lr(self.lr_step, params)

    def _keep(self, local: list[int], params: list[Tensor]) -> None:
        n, index = len(self.members), torch.tensor(local, dtype=torch.long)
        self.members = [self.members[i] for i in local]
        self.hypers = [self.hypers[i] for i in local]
        self.configs = [self.configs[i] for i in local]
        if self.fused:  # per (parameter, member): keep the members' own
            self.states = [self.states[j * n + i] for j in range(len(self.states) // n) for i in local]
            self.build_h(params)
            return
        for state in self.states:
            for key, v in state.items():
                if torch.is_tensor(v) and v.ndim >= 1 and v.shape[0] == n:
                    state[key] = v.index_select(0, index.to(v.device))
        self.build_h(params)

    def state_bytes(self) -> float:
        """Bytes of optimizer state per configuration (a tensor shared by the slot, e.g. ``step``, counts whole)."""
        n, total = len(self.members), 0.0
        for state in self.states:
            for v in state.values():
                if torch.is_tensor(v):
                    if self.fused:  # per (parameter, member): all of one member's is its own
                        total += v.nbytes / n
                    else:
                        total += v.nbytes / n if v.ndim >= 1 and v.shape[0] == n else v.nbytes
        return total


def _column(values: list[float], p: Tensor) -> Tensor:
    """``values`` as a ``[n, 1, ...]`` column of ``p``'s dtype and device. To a GPU from pinned memory, without
    waiting: a copy from pageable memory waits for the device, and a scheduled lr makes new columns every step."""
    shape = (-1, *([1] * (p.ndim - 1)))
    if p.device.type != "cuda":
        return torch.tensor(values, dtype=p.dtype, device=p.device).view(shape)
    return torch.tensor(values, dtype=p.dtype, pin_memory=True).to(p.device, non_blocking=True).view(shape)


def _merge(rule: Rule, hypers: list[dict[str, Any]], p: Tensor) -> dict[str, Any]:
    """The slot's hyperparameters for the stacked parameter ``p``: shared values as they are, differing numbers as
    columns, then the rule's shape-dependent ones for the unstacked shape ``p.shape[1:]``."""
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
    return dict(rule.for_shape(h, p.shape[1:])) if rule.for_shape is not None else h


def _structural_keys(rule: Rule, hypers: list[dict[str, Any]]) -> list[str]:
    """Hyperparameter names whose differing values must split a group: the rule's flags and declared ``fixed``
    hyperparameters, and any that is not a number (or a tuple of numbers)."""
    keys = []
    for key, first in hypers[0].items():
        if key in rule.flags or key in rule.fixed:
            keys.append(key)
            continue
        values = [h[key] for h in hypers]
        if all(v == first for v in values):
            continue
        flat = [x for v in values for x in (v if isinstance(v, (tuple, list)) else [v])]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
            keys.append(key)
    return keys


def _schedule_key(schedule: Any) -> Any:
    """Equal dataclass schedules (each config has its own object) share a fused run; any other callable is its
    own."""
    return describe_schedule(schedule) if dataclasses.is_dataclass(schedule) else id(schedule)


def _plan(configs: list[RunConfig], mode: str, device: torch.device | None = None) -> tuple[list[int], list[_Slot]]:
    """The order of the configurations on the K axis and the slots that update them. ``"auto"`` splits a group into
    runs of equal hyperparameters on a CPU (the same bits as the loop, whatever shares the pass), and nowhere else:
    on a GPU the bits are not promised, and one call over tensor hyperparameters is one launch where K runs (or K
    fused-kernel calls) would be K."""
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
            cpu = device is None or device.type == "cpu"
            split = mode == "runs" or (mode == "auto" and cpu)
            if split:
                runs: dict[str, list[int]] = {}
                for i in group:
                    runs.setdefault(repr((sorted(configs[i].hyperparameters.items()),
                                          _schedule_key(configs[i].schedule))), []).append(i)
                parts = list(runs.values())
            else:
                parts = [group]
            for part in parts:
                slot = _Slot(rule, fused=split and rule.fused is not None, members=part,
                             hypers=[dict(configs[i].hyperparameters) for i in part],
                             configs=[configs[i] for i in part], a=len(order))
                order.extend(part)
                slots.append(slot)
    return order, slots


# --- training -----------------------------------------------------------------------------------------------


@flush_denormals()
def train_vectorized(configs: Sequence[RunConfig], *, task: Task | None = None, splits=None,
                     device: str | torch.device = "cpu", check_every: int | None = None, update: str = "auto",
                     forward: str = "auto", engine: str = "auto", log_steps: bool = False,
                     max_logged: int | None = None) -> list[RunResult]:
    """Train ``configs`` (one :func:`pass_key`) together; one :class:`RunResult` per config, in order.

    ``update``: ``"auto"`` | ``"tensor"`` | ``"runs"`` (see the module docstring). ``forward``: ``"auto"`` |
    ``"bmm"`` | ``"vmap"`` (see :mod:`descentlab.train.stacked`), for autograd and evaluation. ``engine``:
    ``"auto"`` | ``"explicit"`` | ``"autograd"``, as in :func:`descentlab.train.loop.train`: by default the
    gradients of MLP-shaped networks come from :class:`~descentlab.train.mlp_gradients.MLPGradients`, K copies
    at once. ``task``, ``splits``, ``log_steps`` and ``max_logged`` as in :func:`descentlab.train.loop.train`
    (each configuration logs its own ``{"step", "lr", "loss"}``, the same steps as the loop would).
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
    return run.train(check_every, log_steps, max_logged)


class _Pass:
    """The state of one vectorized pass: the stack, its slots, which configurations are still in it."""

    def __init__(self, configs: list[RunConfig], task: Task, splits, device: torch.device, update: str,
                 forward: str, engine: str) -> None:
        self.task, self.device = task, device
        self.order, self.slots = _plan(configs, update, device)
        self.configs = [configs[i] for i in self.order]       # sorted: row r of the stack is self.rows[r]
        self.models = [task.build_model(c.seed, c.init) for c in self.configs]
        problem = unstackable(self.models[0])
        if problem is not None:
            raise UserError(f"cannot vectorize task {task.name!r}: {problem}")
        self.x_train, self.y_train = splits.x_train.to(device), splits.y_train.to(device)
        self.forward, self.path = stacked_forward(self.models[0], forward)
        self.engine = gradient_engine(self.models[0], task, engine, (splits.x_train, splits.y_train))
        stacked = stack_models(self.models)
        self.names = list(stacked)
        if self.engine is not None and self.engine.names != self.names:
            self.engine = None  # the engine wants named_parameters() order; the stack follows the state_dict
        self.leaves = [stacked[n].to(device).requires_grad_(True) for n in self.names]
        self.rows = list(range(len(self.configs)))
        self.held_out = {k: (getattr(splits, f"x_{k}").to(device), getattr(splits, f"y_{k}").to(device))
                         for k in ("val", "test")}
        data = self._data()
        for slot in self.slots:
            slot.build_h(data)
        k = len(self.configs)
        self.trackers = [RunTracker.of(task) for _ in range(k)]
        self.final: list[dict[str, Tensor] | None] = [None] * k
        self.bytes: list[float] = [0.0] * k

    def _data(self) -> list[Tensor]:
        return [leaf.detach() for leaf in self.leaves]

    def _params(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.leaves))

    def train(self, check_every: int, log_steps: bool = False, max_logged: int | None = None) -> list[RunResult]:
        reset_peak(self.device)
        first = self.configs[0]
        n = len(self.y_train)
        bs = batch_size_of(first, n)
        step_log = StepLog(total_updates(first, n), max_logged) if log_steps else None
        logged: list[list[dict[str, Any]]] = [[] for _ in self.configs]
        loss_fn = self.task.loss_fn
        classify = self.task.metric == "accuracy"  # else the loss is the metric: no accuracies (core's protocol)
        step, elapsed = 0, 0.0
        head = slice(0, START_EXAMPLES)
        for tracker, start_loss in zip(self.trackers, self._evaluate(self.x_train[head], self.y_train[head])[0]):
            tracker.divergence.start_loss = start_loss
        for epoch in range(1, first.epochs + 1):
            if not self.rows:
                break
            perms = self._permutations(epoch, n)
            param_rows = None  # each slot's views of the stacked parameters, until a row is dropped
            loss_sum = torch.zeros(len(self.rows), device=self.device)
            step_losses: list[Tensor] = []  # per update, the rows' batch losses (the epoch's train_loss, as the loop)
            batch_sizes: list[int] = []
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
                    y = self.y_train.index_select(0, flat).view(*idx.shape, *self.y_train.shape[1:])
                data = self._data()
                for slot in self.slots:
                    slot.set_lr(step, data)
                if self.engine is not None:  # rows are independent: a non-finite row reaches no other
                    losses, out, grads = self.engine(data, x, y, per_config)
                    k, b = out.shape[0], out.shape[1]
                    yk = y if per_config else y.expand(k, *y.shape)
                else:
                    out = self.forward(self._params(), x, per_config)
                    k, b = out.shape[0], out.shape[1]
                    yk = y if per_config else y.expand(k, *y.shape)
                    losses = loss_fn(out.reshape(k * b, -1), yk.reshape(k * b, *yk.shape[2:]),
                                     reduction="none").view(k, b).mean(1)
                    finite = torch.isfinite(losses.detach())
                    total = torch.where(finite, losses, torch.zeros_like(losses)).sum()
                    grads = list(torch.autograd.grad(total, self.leaves))
                if step_log is not None and step_log.keeps(step):  # as the loop: the batch's loss before the update
                    for row, value in zip(self.rows, losses.detach().tolist()):
                        logged[row].append({"step": step, "lr": lr_at(self.configs[row], step), "loss": value})
                step += 1
                with torch.no_grad():
                    loss_sum.add_(losses.detach(), alpha=b)
                    step_losses.append(losses.detach())
                    batch_sizes.append(b)
                    if classify:
                        correct.add_((out.detach().argmax(-1) == yk).sum(1))
                if step % check_every == 0 or start == starts[-1]:
                    bad = ~torch.isfinite(loss_sum)
                    if bool(bad.any()):
                        keep = self._drop(bad.nonzero().flatten().tolist(), step)
                        if not self.rows:
                            break
                        grads = [g[keep] for g in grads]
                        loss_sum, correct = loss_sum[keep], correct[keep]
                        step_losses = [v[keep] for v in step_losses]
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
            train_loss = epoch_losses(torch.stack(step_losses, 1),
                                      torch.tensor(batch_sizes, dtype=torch.float64, device=self.device), n)
            exploded = [r for r, row in enumerate(self.rows) if self.trackers[row].divergence.exploded(train_loss[r])]
            if exploded:
                keep = self._drop(exploded, step)
                if not self.rows:
                    break
                loss_sum, correct = loss_sum[keep], correct[keep]
                train_loss = [train_loss[r] for r in keep.tolist()]
            elapsed += seconds
            t1 = time.perf_counter()
            held = {k: self._evaluate(*v) for k, v in self.held_out.items()}
            eval_seconds = time.perf_counter() - t1
            self._state_bytes()
            train_acc = (correct.double() / n).tolist() if classify else [None] * len(self.rows)
            for r, row in enumerate(self.rows):
                self.trackers[row].add(epoch_record(
                    epoch=epoch, train_loss=train_loss[r], train_acc=train_acc[r],
                    val=(held["val"][0][r], held["val"][1][r]), test=(held["test"][0][r], held["test"][1][r]),
                    lr=lr_at(self.configs[row], step - 1), seconds=seconds, eval_seconds=eval_seconds,
                    elapsed=elapsed, steps=step, epoch_steps=step - epoch_start_step,
                    state_bytes=int(self.bytes[row]),
                    peak_memory_bytes=peak_bytes(self.device),  # of the whole pass
                    shared_by=len(self.rows)))  # the seconds above are the pass's, for all of them
        for r, row in enumerate(self.rows):
            self.final[row] = {name: leaf[r].detach().clone() for name, leaf in zip(self.names, self.leaves)}
        results = []
        engine = engine_name(self.engine)
        for row, c in enumerate(self.configs):
            self.models[row].load_state_dict(self.final[row])
            t = self.trackers[row]
            results.append(RunResult(c, t.status, t.history, t.diverged, t.reached, self.models[row], engine,
                                     logged[row] if log_steps else None))
        unsorted: list[RunResult | None] = [None] * len(results)
        for pos, original in enumerate(self.order):
            unsorted[original] = results[pos]
        return unsorted  # type: ignore[return-value]

    def _permutations(self, epoch: int, n: int) -> Tensor | None:
        """``None`` (full batch), one shared permutation ``[n]``, or one per configuration ``[K, n]``."""
        if self.configs[0].batch_size == "full":
            return None
        seeds = [self.configs[row].seed for row in self.rows]
        cache = {s: permutation(n, s, epoch) for s in dict.fromkeys(seeds)}
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
            self.trackers[row].diverged = step
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
            slot.keep(local, data)
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
        losses = []
        correct = torch.zeros(k, device=x.device, dtype=torch.int64)
        batch = EVAL_BATCH if self.path == "bmm" else max(1, EVAL_BATCH // k)
        for xb, yb in zip(x.split(batch), y.split(batch)):
            # the logits of the program that trained them: the explicit engine's forward when it computed the
            # gradients, else the stacked forward autograd differentiated
            out = self.engine.forward(self._data(), xb, False) if self.engine is not None else self.forward(
                params, xb, False)
            b = len(yb)
            targets = yb.repeat(k, *([1] * (yb.ndim - 1)))  # [K·B, ...]: the batch once per configuration
            losses.append(self.task.loss_fn(out.reshape(k * b, -1), targets, reduction="none").reshape(k, -1))
            if self.task.metric == "accuracy":
                correct += (out.argmax(-1) == yb).sum(1)
        accuracy = (correct.double() / len(y)).tolist() if self.task.metric == "accuracy" else [None] * k
        return mean_loss(torch.cat(losses, 1), len(y)), accuracy
