r"""Gradient descent: plain, heavy-ball momentum and Nesterov's accelerated gradient (NAG).

With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau`, weight decay :math:`\lambda`:

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
         \quad(\text{negated first when } \texttt{maximize}) \\
    b_t &\leftarrow \begin{cases} g_t & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases} \\
    d_t &\leftarrow \begin{cases} g_t + \mu\, b_t & \texttt{nesterov} \\ b_t & \text{otherwise} \end{cases}
         \qquad (d_t = g_t \text{ when } \mu = 0) \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\, d_t

Papers: Robbins & Monro 1951 (stochastic approximation); Polyak 1964 (heavy ball); Nesterov 1983 and, in this
"look-ahead gradient" form, Sutskever, Martens, Dahl & Hinton, *On the importance of initialization and
momentum in deep learning*, ICML 2013.

Conventions (as ``torch.optim.SGD``):

- The momentum buffer starts at the first gradient, so dampening is not applied on step 1.
- The learning rate multiplies the whole buffer (PyTorch's form). Sutskever et al. and Keras instead keep
  :math:`v \leftarrow \mu v - \gamma g` with the learning rate inside the buffer; the two agree while
  :math:`\gamma` is constant and differ when a schedule changes it.
- Keras's default learning rate is 0.01 with no momentum; torch's SGD has no default learning rate, ours is 1e-3.

Batch, stochastic and mini-batch gradient descent are the same rule under different batching policies
(``batch_size = "full" | 1 | b`` in the trainer), not different optimizers.

Sparse gradients (``nn.Embedding(sparse=True)``) are taken as torch takes them (the momentum buffer then starts
sparse, as torch's).

State key: ``momentum_buffer`` (only when momentum is used), as in torch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.rules.base import (
    TORCH_WORDS,
    Hyper,
    Rule,
    add_,
    added,
    check_common,
    check_number,
    descent_gradient,
    nonzero,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "momentum": 0.0,
    "dampening": 0.0,
    "weight_decay": 0.0,
    "nesterov": False,
    "maximize": False,
}


def validate(h: Hyper) -> None:
    check_common("sgd", h)
    # torch.optim.SGD checks momentum ≥ 0 only (no upper bound, dampening unchecked): so do we.
    check_number("sgd", "momentum", h["momentum"], lo=0.0, torch_words=TORCH_WORDS["momentum"])
    check_number("sgd", "dampening", h["dampening"])
    if h["nesterov"]:
        momentum, dampening = h["momentum"], h["dampening"]
        if not isinstance(momentum, Tensor) and momentum <= 0:
            raise_nesterov(f"momentum={momentum!r}")
        if isinstance(dampening, Tensor) or dampening != 0:
            raise_nesterov(f"dampening={dampening!r}")


def raise_nesterov(what: str) -> None:
    from descentlab.rules.base import HyperparameterError

    raise HyperparameterError(f"sgd: nesterov=True with {what}; allowed: momentum > 0 and dampening = 0 "
                              "(torch.optim: Nesterov momentum requires a momentum and zero dampening)")


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    # The buffer is created by the first update (it starts at the first gradient).
    return {}


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    g = descent_gradient(p, g, h)
    momentum = h["momentum"]
    if nonzero(momentum):
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = g.detach().clone()
        else:
            buf.mul_(momentum)
            add_(buf, g, 1 - h["dampening"])
        g = added(g, buf, momentum) if h["nesterov"] else buf
    add_(p, g, -h["lr"])


def fused(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper, *,
          grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> bool:
    """torch's fused SGD kernel over the list: the same math as :func:`update` in one pass per tensor
    (``grad_scale``/``found_inf`` as in :func:`descentlab.rules.adam.fused`)."""
    import torch

    momentum = h["momentum"]
    buffers: list[Tensor] = []
    first = False
    if momentum != 0:
        have = [("momentum_buffer" in s) for s in states]
        if any(have) and not all(have):
            return False
        first = not have[0]
        if first:
            for s, g in zip(states, grads):
                s["momentum_buffer"] = torch.empty_like(g)
        buffers = [s["momentum_buffer"] for s in states]
    torch._fused_sgd_(
        params, grads, buffers, weight_decay=h["weight_decay"], momentum=momentum, lr=h["lr"],
        dampening=h["dampening"], nesterov=h["nesterov"], maximize=h["maximize"], is_first_step=first,
        grad_scale=grad_scale, found_inf=found_inf,
    )
    return True


SGD = Rule(
    name="sgd",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"nesterov", "maximize"}),
    fused=fused,
    sparse=True,  # every operation of update() takes a sparse g as torch's SGD does
    paper="Robbins & Monro 1951; Polyak 1964; Sutskever et al. 2013 (ICML)",
    elementwise=True,
)
