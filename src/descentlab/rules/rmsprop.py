r"""RMSprop, plain and centered, with optional heavy-ball momentum.

With learning rate :math:`\gamma`, smoothing constant :math:`\alpha`, :math:`\epsilon`, weight decay
:math:`\lambda` and momentum :math:`\mu`:

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
         \quad(\text{gradient negated first when } \texttt{maximize}) \\
    v_t &\leftarrow \alpha\, v_{t-1} + (1-\alpha)\, g_t^2 \\
    \bar g_t &\leftarrow \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t \qquad(\texttt{centered} \text{ only}) \\
    \tilde v_t &\leftarrow v_t - \bar g_t^2 \text{ with } \texttt{centered}, \text{ else } v_t \\
    d_t &\leftarrow \sqrt{\tilde v_t} + \epsilon
         \qquad\bigl(\sqrt{\tilde v_t + \epsilon} \text{ with } \texttt{eps\_inside\_sqrt}\bigr) \\
    b_t &\leftarrow \mu\, b_{t-1} + g_t / d_t \quad(b_0 = 0), \qquad
    \theta_t \leftarrow \theta_{t-1} - \gamma\, b_t
         \qquad(\theta_t \leftarrow \theta_{t-1} - \gamma\, g_t / d_t \text{ when } \mu = 0)

Papers: Tieleman & Hinton, *Lecture 6.5 — rmsprop: Divide the gradient by a running average of its recent
magnitude*, COURSERA: Neural Networks for Machine Learning, 2012; the centered form from Graves, *Generating
Sequences With Recurrent Neural Networks*, arXiv:1308.0850, 2013 (eq. 38–41).

Conventions:

- As ``torch.optim.RMSprop``: ε is added *outside* the root; defaults lr 1e-2, alpha 0.99, eps 1e-8, no
  momentum; the buffers start at zero; the learning rate multiplies the whole momentum buffer.
- Keras 3 (``keras/src/optimizers/rmsprop.py``) adds ε *inside* the root, :math:`g/\sqrt{\tilde v_t + \epsilon}`
  (``eps_inside_sqrt=True``, last in the defaults so positional arguments stay torch's), calls
  :math:`\alpha` ``rho`` and defaults to learning rate 1e-3, rho 0.9 (torch: alpha 0.99), ε 1e-7. Keras keeps the
  learning rate *inside* its momentum buffer (:math:`b \leftarrow \mu b + \gamma g/d`, :math:`\theta \leftarrow
  \theta - b`): equal to ours while :math:`\gamma` is constant, different when a schedule changes it. Keras's
  ``weight_decay`` is decoupled (:math:`\theta \leftarrow \theta - \gamma\lambda\theta`), not the L2 term above.
- Graves adds ε inside the root of the centered variance; Hinton's slides have no ε at all.

State keys: ``step``, ``square_avg`` (:math:`v`), ``grad_avg`` (:math:`\bar g`, centered),
``momentum_buffer`` (:math:`b`, when :math:`\mu > 0`), as in torch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.rules.base import (
    TORCH_WORDS,
    Hyper,
    Rule,
    add_,
    addcdiv_,
    check_common,
    check_number,
    descent_gradient,
    ema_,
    ema_sq_,
    new_step,
    nonzero,
    sqrt_add,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-2,
    "alpha": 0.99,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "momentum": 0.0,
    "centered": False,
    "maximize": False,
    "eps_inside_sqrt": False,  # Keras's placement; not a torch.optim argument
}


def validate(h: Hyper) -> None:
    check_common("rmsprop", h)  # ε > 0 for every rule (torch would also accept 0)
    check_number("rmsprop", "alpha", h["alpha"], lo=0.0, torch_words=TORCH_WORDS["alpha"])
    check_number("rmsprop", "momentum", h["momentum"], lo=0.0, torch_words=TORCH_WORDS["momentum"])


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    state: dict[str, Any] = {"step": new_step(),
                             "square_avg": zeros(p)}
    if nonzero(h["momentum"]):
        state["momentum_buffer"] = zeros(p)
    if h["centered"]:
        state["grad_avg"] = zeros(p)
    return state


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    lr, alpha, eps, momentum = h["lr"], h["alpha"], h["eps"], h["momentum"]
    inside = h["eps_inside_sqrt"]
    step_count(state)
    g = descent_gradient(p, g, h)
    square_avg = state["square_avg"]
    ema_sq_(square_avg, g, alpha)
    if h["centered"]:
        grad_avg = state["grad_avg"]
        ema_(grad_avg, g, alpha)
        variance = square_avg.addcmul(grad_avg, grad_avg, value=-1)
        avg = variance.add_(eps).sqrt_() if inside else sqrt_add(variance, eps, inplace=True)
    else:
        avg = square_avg.add(eps).sqrt_() if inside else sqrt_add(square_avg, eps)
    if nonzero(momentum):
        buf = state["momentum_buffer"]
        buf.mul_(momentum).addcdiv_(g, avg)
        add_(p, buf, -lr)
    else:
        addcdiv_(p, g, avg, -lr)


RMSPROP = Rule(
    name="rmsprop",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"centered", "maximize", "eps_inside_sqrt"}),
    paper="Tieleman & Hinton 2012 (lecture 6.5); Graves 2013 (centered)",
    elementwise=True,
)
