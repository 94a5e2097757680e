r"""NAdam: Adam with Nesterov momentum and a warming-up momentum schedule (and NAdamW).

With learning rate :math:`\gamma`, :math:`\beta_1, \beta_2`, :math:`\epsilon`, weight decay :math:`\lambda`,
momentum decay :math:`\psi`, and :math:`t` the number of this update (1 on the first):

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) \quad(\text{negated when } \texttt{maximize}) \\
    &\text{L2:}\quad g_t \leftarrow g_t + \lambda\,\theta_{t-1}
     \qquad \text{decoupled (NAdamW):}\quad \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \\
    \mu_t &\leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,t\psi}\bigr), \qquad
    \Pi_t \leftarrow \Pi_{t-1}\,\mu_t \quad(\Pi_0 = 1) \\
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\,
        \frac{\frac{1-\mu_t}{1-\Pi_t}\, g_t + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\, m_t}
             {\sqrt{v_t / (1-\beta_2^t)} + \epsilon}

Paper: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR 2016 workshop (Algorithm 2); decoupled weight
decay as in Loshchilov & Hutter, ICLR 2019.

Conventions:

- As ``torch.optim.NAdam``: the moment :math:`m_t` is averaged with the constant :math:`\beta_1` while the
  schedule :math:`\mu_t` only weights the two terms of the step; ε is added after the bias-corrected root.
  Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, momentum_decay 4e-3.
- :math:`\Pi_t` is kept, as in torch, in a float32 scalar ``mu_product``; with tensor hyperparameters it holds
  one product per configuration (shape of :math:`\mu_t`). ``load_state_dict`` casts it to the parameter's
  dtype (torch's policy for every state but ``step``); we cast it back, exactly from float64, so a resumed run
  equals an uninterrupted one bit for bit (torch's NAdam goes on in float64). From float16/bfloat16
  parameters the loaded product has already been rounded.
- Keras 3 (``keras/src/optimizers/nadam.py``) uses :math:`0.96^{\,t}` (no :math:`\psi`: its schedule warms up
  250× faster), defaults learning rate 1e-3, ε 1e-7, and a decoupled ``weight_decay``.

State keys: ``step``, ``mu_product`` (:math:`\Pi_t`), ``exp_avg``, ``exp_avg_sq``, as in torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descentlab.rules.base import (
    TORCH_WORDS,
    Hyper,
    Rule,
    Scalar,
    addcdiv_,
    bias_correction,
    check_common,
    check_number,
    descent_gradient,
    ema_,
    ema_sq_,
    new_step,
    sqrt_add,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 2e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "momentum_decay": 4e-3,
    "decoupled_weight_decay": False,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("nadam", h)  # ε > 0 for every rule (torch would also accept 0)
    check_number("nadam", "momentum_decay", h["momentum_decay"], lo=0.0, torch_words=TORCH_WORDS["momentum_decay"])


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {
        "step": new_step(),
        "mu_product": torch.tensor(1.0, dtype=torch.float32),
        "exp_avg": zeros(p),
        "exp_avg_sq": zeros(p),
    }


def _advance_mu_product(state: dict[str, Any], mu: Scalar) -> Scalar:
    """:math:`\\Pi_t = \\Pi_{t-1}\\mu_t`, stored in float32 as torch does; returns it at full precision."""
    product = state["mu_product"]
    if product.dtype != torch.float32:
        # load_state_dict casts every state tensor but ``step`` to the parameter's dtype; back to float32
        # (exact from float64) so that a resumed run is bitwise the uninterrupted one.
        product = state["mu_product"] = product.to(torch.float32)
    if isinstance(mu, Tensor):
        # in place, as the counter: a CUDA graph replays writes into the tensors it captured, so a product
        # stored anew each step would be read from the same old tensor at every replay
        dtype, mu = mu.dtype, mu.to(product.dtype)
        if torch.broadcast_shapes(product.shape, mu.shape) == product.shape:
            product.mul_(mu)
        else:  # stacked hyperparameters' first step: the product takes their column's shape
            product = state["mu_product"] = product * mu
        return product.to(dtype)
    product.mul_(mu)
    return product.item()


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    lr, (beta1, beta2), eps, psi = h["lr"], h["betas"], h["eps"], h["momentum_decay"]
    t = step_count(state)
    bias_correction2 = bias_correction(beta2, t)
    g = descent_gradient(p, g, h, decoupled=h["decoupled_weight_decay"])
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    product = _advance_mu_product(state, mu)
    product_next = product * mu_next
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    ema_(exp_avg, g, beta1)
    ema_sq_(exp_avg_sq, g, beta2)
    denom = sqrt_add(exp_avg_sq.div(bias_correction2), eps, inplace=True)
    addcdiv_(p, g, denom, -lr * (1.0 - mu) / (1.0 - product))
    addcdiv_(p, exp_avg, denom, (-lr * mu_next) / (1.0 - product_next))


NADAM = Rule(
    name="nadam",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize", "decoupled_weight_decay"}),
    paper="Dozat 2016 (ICLR workshop)",
    elementwise=True,
)
