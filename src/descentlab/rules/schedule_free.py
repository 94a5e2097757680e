r"""Schedule-Free SGD and AdamW: no learning-rate schedule, an online average of the iterates instead.

Three sequences: :math:`z` (the base optimizer's iterate), :math:`x` (a weighted average of the :math:`z`,
where the loss is *evaluated*) and :math:`y` (an interpolation of the two, where the gradient is *taken*; the
model's parameters hold :math:`y` during training). With learning rate :math:`\gamma`, averaging momentum
:math:`\beta` (``momentum`` for SGD, ``betas[0]`` for AdamW), weight decay :math:`\lambda`, :math:`k` the
0-based index of this update, warmup :math:`W`, polynomial power :math:`r` and weight power :math:`p`:

.. math::

    \gamma_k &\leftarrow \gamma \min\!\big(1, \tfrac{k+1}{W}\big), \qquad
        \gamma_{\max} \leftarrow \max(\gamma_{\max}, \gamma_k) \\
    w_k &\leftarrow (k+1)^r\, \gamma_{\max}^{\,p}, \qquad S_k \leftarrow S_{k-1} + w_k, \qquad
        c_{k+1} \leftarrow w_k / S_k \quad(0 \text{ when } S_k = 0) \\
    d_k &\leftarrow \begin{cases} g_k + \lambda y_k & \text{SGD} \\
        g_k / \big(\sqrt{v_k/(1-\beta_2^{k+1})} + \epsilon\big) + \lambda y_k,\ \
        v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2 & \text{AdamW} \end{cases} \\
    z_{k+1} &\leftarrow z_k - \gamma_k d_k, \qquad
        x_{k+1} \leftarrow (1 - c_{k+1})\, x_k + c_{k+1} z_{k+1}, \qquad
        y_{k+1} \leftarrow (1-\beta)\, z_{k+1} + \beta\, x_{k+1}

computed, as the authors' code does, without storing :math:`x`:
:math:`y \leftarrow \operatorname{lerp}(y, z, c_{k+1}) + \gamma_k(\beta(1-c_{k+1}) - 1)\, d_k`, then
:math:`z \leftarrow z - \gamma_k d_k`. Switching the parameters between the two points:
:math:`x = \operatorname{lerp}(y, z, 1 - 1/\beta)` (``eval``), :math:`y = \operatorname{lerp}(x, z, 1-\beta)`
(``train``).

Paper: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, *The Road Less Scheduled*, NeurIPS 2024;
reference code: ``schedulefree`` (facebookresearch/schedule_free), which our tests compare against.

Conventions (as ``schedulefree.SGDScheduleFree`` / ``AdamWScheduleFree``):

- **Call** ``optimizer.train()`` **before training and** ``optimizer.eval()`` **before evaluating or saving a
  checkpoint**: during training the parameters hold :math:`y`, the good point is :math:`x`. ``step`` refuses
  to run in eval mode. Models with BatchNorm: the running statistics were gathered at :math:`y`, not
  :math:`x`; recompute them at :math:`x` (a few forward passes in ``model.train()`` after ``optimizer.eval()``)
  before evaluating.
- Weight decay is an L2 term evaluated at :math:`y` (added to the AdamW *normalized* gradient, not decoupled
  as in AdamW proper). AdamW has no bias correction of the first moment (there is no first moment: the
  averaging plays its role) and no ``step`` state; its :math:`\beta_2` correction uses the group's :math:`k`.
- Defaults: SGD lr 1.0, momentum 0.9; AdamW lr 0.0025, betas (0.9, 0.999), eps 1e-8; both weight_decay 0,
  warmup_steps 0, r 0, weight_lr_power 2. Use larger learning rates than with a schedule (1–10× for SGD).

**Group-level state.** :math:`k, \gamma_{\max}, S` are shared by all parameters of a group, which the
per-parameter rule contract (``update(p, g, state, h)``) has no place for. They live in the param group under
the reference's keys (``k``, ``lr_max``, ``weight_sum``, ``scheduled_lr``, ``train_mode``). Once per group and
step, the front-end calls :func:`advance` (a pure function of the hyperparameters and those counters) and
passes its per-step values to ``update`` inside ``h`` under :data:`STEP_KEYS` (``k``, ``scheduled_lr``,
``ckp1``); ``update`` reads them, never the counters. Any front-end (the Optimizer class, the vectorized
trainer) does the same.

Per-parameter state keys: ``z`` (SGD and AdamW) and ``exp_avg_sq`` (AdamW), as the reference.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from descentlab.rules.base import (
    Hyper,
    HyperparameterError,
    Rule,
    Scalar,
    add_,
    added,
    check_common,
    check_number,
    nonzero,
    sqrt_add,
    zeros,
)

_SHARED: dict[str, Any] = {"weight_decay": 0.0, "warmup_steps": 0, "r": 0.0, "weight_lr_power": 2.0}
SGD_DEFAULTS: dict[str, Any] = {"lr": 1.0, "momentum": 0.9, **_SHARED}
ADAMW_DEFAULTS: dict[str, Any] = {"lr": 0.0025, "betas": (0.9, 0.999), "eps": 1e-8, **_SHARED}

# Group keys kept by the front-end (initial values as the reference's), and the per-step values in ``h``.
GROUP_STATE: dict[str, Any] = {"k": 0, "train_mode": False, "weight_sum": 0.0, "lr_max": -1.0, "scheduled_lr": 0.0}
STEP_KEYS = ("k", "scheduled_lr", "ckp1")


class Advance(NamedTuple):
    """The per-step values of :func:`advance` and the group's new counters."""

    scheduled_lr: Scalar
    ckp1: Scalar
    lr_max: Scalar
    weight_sum: Scalar


def advance(h: Hyper, k: int, lr_max: Scalar, weight_sum: Scalar) -> Advance:
    """Warmup, running maximum of the learning rate, averaging weight and its running sum for update ``k``."""
    warmup = h["warmup_steps"]
    lr = h["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
    tensors = isinstance(lr, Tensor) or isinstance(lr_max, Tensor)
    lr_max = torch.maximum(torch.as_tensor(lr), torch.as_tensor(lr_max)) if tensors else max(lr, lr_max)
    weight = ((k + 1) ** h["r"]) * (lr_max ** h["weight_lr_power"])
    weight_sum = weight_sum + weight
    if isinstance(weight_sum, Tensor):
        ckp1: Scalar = torch.where(weight_sum > 0, weight / torch.where(weight_sum > 0, weight_sum, 1.0), 0.0)
    else:
        ckp1 = weight / weight_sum if weight_sum != 0 else 0.0
    return Advance(lr, ckp1, lr_max, weight_sum)


def beta(h: Hyper) -> Scalar:
    """The interpolation momentum: SGD's ``momentum``, AdamW's ``betas[0]``."""
    return h["momentum"] if "momentum" in h else h["betas"][0]


def to_x(p: Tensor, state: dict[str, Any], h: Hyper) -> None:
    """``eval()``: the parameter goes from y to x."""
    p.lerp_(state["z"].to(p.device), 1 - 1 / beta(h))


def to_y(p: Tensor, state: dict[str, Any], h: Hyper) -> None:
    """``train()``: the parameter goes from x to y."""
    p.lerp_(state["z"].to(p.device), 1 - beta(h))


def _validate(rule: str, h: Hyper) -> None:
    check_common(rule, h, torch_words=False)
    b = beta(h)
    check_number(rule, "momentum" if "momentum" in h else "betas[0]", b, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    w = h["warmup_steps"]
    if isinstance(w, bool) or not isinstance(w, int) or w < 0:
        raise HyperparameterError(f"{rule}: invalid warmup_steps={w!r}; allowed: an integer ≥ 0")
    check_number(rule, "r", h["r"], lo=0.0)
    check_number(rule, "weight_lr_power", h["weight_lr_power"], lo=0.0)


def _validate_sgd(h: Hyper) -> None:
    _validate("sgd-schedulefree", h)


def _validate_adamw(h: Hyper) -> None:
    _validate("adamw-schedulefree", h)


def _init_sgd(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {"z": torch.clone(p, memory_format=torch.preserve_format)}


def _init_adamw(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {"z": torch.clone(p, memory_format=torch.preserve_format),
            "exp_avg_sq": zeros(p)}


def _move(y: Tensor, z: Tensor, d: Tensor, h: Hyper) -> None:
    """The shared y and z updates given the direction ``d`` (weight decay at y added here)."""
    lr, ckp1 = h["scheduled_lr"], h["ckp1"]
    if nonzero(h["weight_decay"]):
        d = added(d, y, h["weight_decay"])
    y.lerp_(z, ckp1)
    add_(y, d, lr * (beta(h) * (1 - ckp1) - 1))
    add_(z, d, -lr)


def _update_sgd(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    _move(p, state["z"], g, h)


def _update_adamw(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    beta2, eps = h["betas"][1], h["eps"]
    v = state["exp_avg_sq"]
    v.mul_(beta2)
    if isinstance(beta2, Tensor):
        v.addcmul_(g * (1 - beta2), g)
    else:
        v.addcmul_(g, g, value=1 - beta2)
    denom = sqrt_add(v.div(1 - beta2 ** (h["k"] + 1)), eps, inplace=True)
    _move(p, state["z"], g / denom, h)


PAPER = "Defazio et al. 2024, The Road Less Scheduled (NeurIPS)"

SGD_SCHEDULE_FREE = Rule(
    name="sgd-schedulefree", defaults=SGD_DEFAULTS, init_state=_init_sgd, update=_update_sgd,
    validate=_validate_sgd, paper=PAPER, fixed=frozenset({"warmup_steps"}), group_state=True,
    averaged_iterate=True, elementwise=True,
    # Its readable step (a lerp and two adds) ran faster than the generated one: 5.73 vs 6.84 ms on 10M
    # parameters in 100 tensors, 11.6 vs 12.8 ms in 1,000 (BENCHMARKS.md, 2026-11-30).
    compile_by_default=False,
)

ADAMW_SCHEDULE_FREE = Rule(
    name="adamw-schedulefree", defaults=ADAMW_DEFAULTS, init_state=_init_adamw, update=_update_adamw,
    validate=_validate_adamw, paper=PAPER, fixed=frozenset({"warmup_steps"}), group_state=True,
    averaged_iterate=True, elementwise=True,
)
