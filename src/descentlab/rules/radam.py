r"""RAdam: Adam whose adaptive step is switched on, and rectified, once its variance is tractable.

With learning rate :math:`\gamma`, :math:`\beta_1, \beta_2`, :math:`\epsilon`, weight decay :math:`\lambda`,
and :math:`t` the number of this update (1 on the first):

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) \quad(\text{negated when } \texttt{maximize}) \\
    &\text{L2:}\quad g_t \leftarrow g_t + \lambda\,\theta_{t-1}
     \qquad \text{decoupled:}\quad \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \\
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
    \rho_t = \rho_\infty - \frac{2t\,\beta_2^t}{1-\beta_2^t} \\
    r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}} \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\,\frac{m_t}{1-\beta_1^t}\cdot
        \begin{cases} r_t\, \dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5 \\
                      1 & \text{otherwise (SGD with momentum)} \end{cases}

Paper: Liu, Jiang, He, Chen, Liu, Gao & Han, *On the Variance of the Adaptive Learning Rate and Beyond*,
ICLR 2020 (Algorithm 2).

Conventions:

- As ``torch.optim.RAdam``: the threshold is :math:`\rho_t > 5` (the paper's Algorithm 2 tests
  :math:`\rho_t > 4`; the authors' code, "more conservative", :math:`\rho_t \ge 5`), and ε is added to the
  *uncorrected* root :math:`\sqrt{v_t}` with the correction :math:`\sqrt{1-\beta_2^t}` in the numerator.
  Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8.
- ``decoupled_weight_decay=True`` multiplies the decay by the learning rate, as AdamW.
- With tensor hyperparameters the branch is chosen per configuration (``torch.where``); the discarded branch
  may hold NaN (the root of a negative number) and is never used.

State keys: ``step``, ``exp_avg``, ``exp_avg_sq``, as in torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descentlab.rules.base import (
    Hyper,
    Rule,
    Scalar,
    bias_correction,
    check_common,
    descent_gradient,
    ema_,
    ema_sq_,
    new_step,
    sqrt_add,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "decoupled_weight_decay": False,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("radam", h)  # ε > 0 for every rule (torch would also accept 0)


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {
        "step": new_step(),
        "exp_avg": zeros(p),
        "exp_avg_sq": zeros(p),
    }


def _rectification(rho_t: Scalar, rho_inf: Scalar) -> Scalar:
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    lr, (beta1, beta2), eps = h["lr"], h["betas"], h["eps"]
    t = step_count(state)
    g = descent_gradient(p, g, h, decoupled=h["decoupled_weight_decay"])
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    ema_(exp_avg, g, beta1)
    ema_sq_(exp_avg_sq, g, beta2)
    bias_correction1 = bias_correction(beta1, t)
    bias_correction2 = bias_correction(beta2, t)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
    step = exp_avg / bias_correction1 * lr
    if isinstance(rho_t, Tensor) or rho_t > 5.0:
        adaptive_lr = (bias_correction2**0.5) / sqrt_add(exp_avg_sq, eps)
        rectified = step * adaptive_lr * _rectification(rho_t, rho_inf)
        step = torch.where(rho_t > 5.0, rectified, step) if isinstance(rho_t, Tensor) else rectified
    p.add_(step, alpha=-1.0)


RADAM = Rule(
    name="radam",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize", "decoupled_weight_decay"}),
    paper="Liu et al. 2020 (ICLR)",
    elementwise=True,
)
