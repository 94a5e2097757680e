r"""Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm.

With learning rate :math:`\gamma`, :math:`\beta_1, \beta_2`, :math:`\epsilon`, weight decay :math:`\lambda`,
and :math:`t` the number of this update (1 on the first):

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
         \quad(\text{gradient negated first when } \texttt{maximize}) \\
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    u_t &\leftarrow \max(\beta_2\, u_{t-1},\; |g_t| + \epsilon) \\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}

Paper: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015, §7.1 (Algorithm 2).

Conventions:

- As ``torch.optim.Adamax``: ε is added to :math:`|g_t|` *inside* the maximum, so :math:`u_t \ge \epsilon`
  and a coordinate whose gradients are all zero does not divide by zero. The paper has no ε. Keras 3
  (``keras/src/optimizers/adamax.py``) instead takes :math:`\max(\beta_2 u, |g|)` and divides by
  :math:`u_t + \epsilon`; its defaults are learning rate 1e-3, ε 1e-7 (torch: 2e-3, 1e-8).
- Weight decay is L2, added to the gradient (torch); Keras's ``weight_decay`` is decoupled.

State keys: ``step``, ``exp_avg`` (:math:`m`), ``exp_inf`` (:math:`u`), as in torch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.rules.base import (
    Hyper,
    Rule,
    addcdiv_,
    bias_correction,
    check_common,
    descent_gradient,
    ema_,
    maximum_,
    new_step,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 2e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("adamax", h)  # ε > 0 for every rule (torch would also accept 0)


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {
        "step": new_step(),
        "exp_avg": zeros(p),
        "exp_inf": zeros(p),
    }


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    (beta1, beta2), eps = h["betas"], h["eps"]
    t = step_count(state)
    g = descent_gradient(p, g, h)
    exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
    ema_(exp_avg, g, beta1)
    maximum_(exp_inf.mul_(beta2), g.abs().add_(eps))
    step_size = h["lr"] / bias_correction(beta1, t)
    addcdiv_(p, exp_avg, exp_inf, -step_size)


ADAMAX = Rule(
    name="adamax",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize"}),
    paper="Kingma & Ba 2015 (ICLR), §7.1",
    elementwise=True,
)
