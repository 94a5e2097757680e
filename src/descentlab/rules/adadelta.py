r"""Adadelta: RMSprop whose step is rescaled by a running RMS of its own past updates.

With learning rate :math:`\gamma`, decay :math:`\rho`, :math:`\epsilon` and weight decay :math:`\lambda`:

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
         \quad(\text{gradient negated first when } \texttt{maximize}) \\
    v_t &\leftarrow \rho\, v_{t-1} + (1-\rho)\, g_t^2 \\
    \Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\; g_t \\
    u_t &\leftarrow \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2 \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\, \Delta_t

Paper: Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701, 2012 (Algorithm 1, which has
no learning rate: :math:`\gamma = 1`).

Conventions:

- As ``torch.optim.Adadelta``: ε inside both roots (as the paper and Keras); :math:`u` accumulates the update
  *before* the learning rate is applied. Defaults: lr 1.0, rho 0.9, eps 1e-6.
- Keras 3 (``keras/src/optimizers/adadelta.py``) computes the same update with defaults learning rate 1e-3,
  rho 0.95, ε 1e-7; its ``weight_decay`` is decoupled (:math:`\theta \leftarrow \theta - \gamma\lambda\theta`).
- With ε = 0 the first step is zero and so are all later ones (:math:`u_0 = 0`); torch allows it, so do we.

State keys: ``step``, ``square_avg`` (:math:`v`), ``acc_delta`` (:math:`u`), as in torch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.rules.base import (
    TORCH_WORDS,
    Hyper,
    Rule,
    add_,
    check_common,
    check_number,
    descent_gradient,
    ema_sq_,
    new_step,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1.0,
    "rho": 0.9,
    "eps": 1e-6,
    "weight_decay": 0.0,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("adadelta", h)  # ε > 0 for every rule (torch would also accept 0)
    check_number("adadelta", "rho", h["rho"], lo=0.0, hi=1.0, torch_words=TORCH_WORDS["rho"])


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {
        "step": new_step(),
        "square_avg": zeros(p),
        "acc_delta": zeros(p),
    }


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    rho, eps = h["rho"], h["eps"]
    step_count(state)
    g = descent_gradient(p, g, h)
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    ema_sq_(square_avg, g, rho)
    std = square_avg.add(eps).sqrt_()
    delta = acc_delta.add(eps).sqrt_()
    if delta.requires_grad:  # differentiable=True: autograd keeps the root for its backward
        delta = delta.clone()
    delta.div_(std).mul_(g)
    ema_sq_(acc_delta, delta, rho)
    add_(p, delta, -h["lr"])


ADADELTA = Rule(
    name="adadelta",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize"}),
    paper="Zeiler 2012 (arXiv:1212.5701)",
    elementwise=True,
)
