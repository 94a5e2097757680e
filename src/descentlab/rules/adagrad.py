r"""Adagrad: a step size per coordinate, shrinking with the sum of that coordinate's squared gradients.

With learning rate :math:`\gamma`, learning-rate decay :math:`\eta`, weight decay :math:`\lambda`,
:math:`\epsilon`, initial accumulator value :math:`s_0`, and :math:`t` the number of this update (1 on the first):

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
         \quad(\text{gradient negated first when } \texttt{maximize}) \\
    \gamma_t &\leftarrow \frac{\gamma}{1 + (t-1)\,\eta} \\
    s_t &\leftarrow s_{t-1} + g_t^2 \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}
         \qquad\Bigl(\frac{g_t}{\sqrt{s_t + \epsilon}} \text{ with } \texttt{eps\_inside\_sqrt}\Bigr)

Paper: Duchi, Hazan & Singer, *Adaptive Subgradient Methods for Online Learning and Stochastic Optimization*,
JMLR 12, 2011 (the diagonal form, :math:`s_0 = 0`, no :math:`\epsilon`, no decay).

Conventions:

- As ``torch.optim.Adagrad``: ε is added *outside* the root; the learning-rate decay :math:`\eta` is torch's
  (not in the paper). Defaults: lr 1e-2, lr_decay 0, initial_accumulator_value 0, eps 1e-10.
- Keras 3 (``keras/src/optimizers/adagrad.py``) adds ε *inside* the root, :math:`g/\sqrt{s_t+\epsilon}`:
  ``eps_inside_sqrt=True`` (last in the defaults, so positional arguments stay torch's). Keras's defaults are
  learning rate 1e-3, initial_accumulator_value 0.1, ε 1e-7, and its ``weight_decay`` is decoupled
  (:math:`\theta \leftarrow \theta - \gamma\lambda\theta`), not the L2 term above.
- ``initial_accumulator_value`` is honoured per parameter group; ``torch.optim.Adagrad`` fills every
  accumulator from the constructor's value and ignores a group's own. As torch, ``descentlab.optim.Adagrad``
  creates the state of the constructor's parameters in its constructor; state_dicts cross-load either way.

Sparse gradients (``nn.Embedding(sparse=True)``): only the rows they touch change, as torch's sparse path
(and, as torch, not with ``weight_decay``).

State keys: ``step``, ``sum`` (:math:`s_t`), as in torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descentlab.rules.base import (
    TORCH_WORDS,
    Hyper,
    Rule,
    addcdiv_,
    added,
    check_common,
    check_number,
    new_step,
    nonzero,
    sqrt_add,
    step_count,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-2,
    "lr_decay": 0.0,
    "weight_decay": 0.0,
    "initial_accumulator_value": 0.0,
    "eps": 1e-10,
    "maximize": False,
    "eps_inside_sqrt": False,  # Keras's placement; not a torch.optim argument
}


def validate(h: Hyper) -> None:
    check_common("adagrad", h)  # ε > 0 for every rule (torch would also accept 0)
    check_number("adagrad", "lr_decay", h["lr_decay"], lo=0.0, torch_words=TORCH_WORDS["lr_decay"])
    check_number("adagrad", "initial_accumulator_value", h["initial_accumulator_value"], lo=0.0,
                 torch_words=TORCH_WORDS["initial_accumulator_value"])


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    total = zeros(p)
    # Both halves of a complex accumulator start at the value, as torch's complex(v, v).
    (torch.view_as_real(total) if torch.is_complex(total) else total).add_(h["initial_accumulator_value"])
    return {"step": new_step(), "sum": total}


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    t = step_count(state)
    eps = h["eps"]
    if h["maximize"]:
        g = -g
    if g.is_sparse:
        _sparse_update(p, g, state["sum"], h, t)
        return
    if nonzero(h["weight_decay"]):
        g = added(g, p, h["weight_decay"])
    lr_t = h["lr"] / (1 + (t - 1) * h["lr_decay"])
    total = state["sum"]
    total.addcmul_(g, g, value=1)
    std = total.add(eps).sqrt_() if h["eps_inside_sqrt"] else sqrt_add(total, eps)
    addcdiv_(p, g, std, -lr_t)


def _sparse_update(p: Tensor, g: Tensor, total: Tensor, h: Hyper, t: int) -> None:
    """The same step on the rows a sparse gradient touches (torch's sparse Adagrad): s and θ change only at
    the gradient's indices."""
    if nonzero(h["weight_decay"]):
        raise RuntimeError("weight_decay option is not compatible with sparse gradients")
    g = g.coalesce()
    indices, values = g._indices(), g._values()

    def sparse(v: Tensor) -> Tensor:
        return torch.sparse_coo_tensor(indices, v, g.size())

    total.add_(sparse(values.pow(2)))
    std = total.sparse_mask(g)._values()
    std = std.add_(h["eps"]).sqrt_() if h["eps_inside_sqrt"] else std.sqrt_().add_(h["eps"])
    lr_t = h["lr"] / (1 + (t - 1) * h["lr_decay"])
    if isinstance(lr_t, Tensor):
        p.add_(sparse(values / std * -lr_t))
    else:
        p.add_(sparse(values / std), alpha=-lr_t)


def fused(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper, *,
          grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> bool:
    """torch's fused Adagrad kernel over the list: the same math as :func:`update`, one pass per tensor
    (``grad_scale``/``found_inf`` as in :func:`descentlab.rules.adam.fused`)."""
    if h["eps_inside_sqrt"] or any(s["step"].device != p.device for s, p in zip(states, params)):
        return False
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    torch._fused_adagrad_(
        params, grads, [s["sum"] for s in states], steps, lr=h["lr"], lr_decay=h["lr_decay"],
        weight_decay=h["weight_decay"], eps=h["eps"], maximize=h["maximize"], grad_scale=grad_scale,
        found_inf=found_inf,
    )
    if found_inf is not None:
        torch._foreach_sub_(steps, [found_inf] * len(steps))
    return True


ADAGRAD = Rule(
    name="adagrad",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"maximize", "eps_inside_sqrt"}),
    fused=fused,
    sparse=True,
    paper="Duchi, Hazan & Singer 2011 (JMLR)",
    elementwise=True,
)
