r"""Lion: EvoLved Sign Momentum.

With learning rate :math:`\gamma`, :math:`\beta_1, \beta_2` and weight decay :math:`\lambda`:

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) \quad(\text{negated when } \texttt{maximize}) \\
    \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda) \\
    c_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\,\operatorname{sign}(c_t) \\
    m_t &\leftarrow \beta_2 m_{t-1} + (1-\beta_2)\, g_t

Paper: Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le, *Symbolic Discovery of Optimization
Algorithms*, NeurIPS 2023 (Program 1).

Conventions (as ``lion_pytorch.Lion``, the reference our tests compare against):

- The update interpolates with :math:`\beta_1` but the momentum is tracked with :math:`\beta_2`; the update is
  computed *before* the momentum is updated. :math:`m_0 = 0`.
- Weight decay is decoupled and multiplied by the learning rate, :math:`\theta \leftarrow \theta(1-\gamma\lambda)`,
  as AdamW. ``lion_pytorch``'s ``decoupled_weight_decay=True`` (decay divided by the initial learning rate)
  is not offered.
- Every coordinate moves by exactly :math:`\pm\gamma` (or 0), so the update has a larger norm than Adam's: the
  authors recommend a learning rate 3–10× *smaller* than AdamW's and a weight decay 3–10× *larger*, keeping
  :math:`\gamma\lambda` about the same. Defaults: lr 1e-4, betas (0.9, 0.99), weight_decay 0.
- ``sign(0) = 0``: a coordinate whose interpolated momentum is exactly zero does not move.

State key: ``exp_avg`` (the momentum :math:`m`), as ``lion_pytorch``; there is no ``step``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.rules.base import (
    Hyper,
    Rule,
    add_,
    added,
    check_bool,
    check_common,
    check_number,
    descent_gradient,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-4,
    "betas": (0.9, 0.99),
    "weight_decay": 0.0,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("lion", {k: v for k, v in h.items() if k != "betas"}, torch_words=False)
    betas = h["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise_betas(betas)
    for i, b in enumerate(betas):
        check_number("lion", f"betas[{i}]", b, lo=0.0, hi=1.0)
    check_bool("lion", "maximize", h["maximize"])


def raise_betas(value: Any) -> None:
    from descentlab.rules.base import HyperparameterError

    raise HyperparameterError(f"lion: invalid betas={value!r}; allowed: a tuple of 2 numbers in [0, 1]")


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {"exp_avg": zeros(p)}


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    lr, (beta1, beta2) = h["lr"], h["betas"]
    g = descent_gradient(p, g, h, decoupled=True)
    exp_avg = state["exp_avg"]
    # The same operations, in the same order, as lion_pytorch: c = β₁ m + (1 − β₁) g.
    c = added(exp_avg * beta1, g, 1 - beta1).sign_()
    add_(p, c, -lr)
    exp_avg.mul_(beta2)
    add_(exp_avg, g, 1 - beta2)


LION = Rule(
    name="lion",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize"}),
    paper="Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (NeurIPS)",
    elementwise=True,
)
