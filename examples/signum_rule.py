r"""An optimizer written as a descentlab rule: proven, listed and vectorized like the built-ins.

Signum (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, *signSGD: Compressed Optimisation for Non-Convex
Problems*, Algorithm 3): sign descent on a momentum,

.. math::

    m_t &\leftarrow \beta m_{t-1} + (1 - \beta) g_t, \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\,\mathrm{sign}(m_t).

A rule is three plain pieces (see ``descentlab/rules/base.py``): the hyperparameters with their defaults, the
per-parameter state, and the update, written once with tensor operations that also work when the parameters are
K stacked configurations and the hyperparameters tensors of shape ``[K, 1, ...]`` — that is all the vectorized
trainer needs. Use it by file::

    descentlab compare --task digits-mlp --optimizers 'examples/signum_rule.py:Signum,adam'

(the two train in one vectorized pass), or install it as a plugin of your own package, under the entry-point
group ``descentlab.optimizers`` (``signum = "mypackage.signum_rule:Signum"``), and use it as ``signum``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.optim import make_optimizer_class
from descentlab.rules.base import Hyper, Rule, check_common, check_number, zeros

DEFAULTS: dict[str, Any] = {"lr": 1e-3, "momentum": 0.9, "maximize": False}


def validate(h: Hyper) -> None:
    check_common("signum", h)  # lr ≥ 0, maximize a bool
    check_number("signum", "momentum", h["momentum"], lo=0.0, hi=1.0, hi_open=True)


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {"momentum_buffer": zeros(p)}


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    g = -g if h["maximize"] else g
    m = state["momentum_buffer"]
    m.mul_(h["momentum"]).add_(g * (1 - h["momentum"]))  # tensor-safe: h["momentum"] may be a [K, 1, …] column
    p.sub_(h["lr"] * m.sign())


SIGNUM = Rule(name="signum", defaults=DEFAULTS, init_state=init_state, update=update, validate=validate,
              flags=frozenset({"maximize"}), paper="Bernstein et al. 2018, signSGD (Signum: Algorithm 3)")
Signum = make_optimizer_class("Signum", SIGNUM, __doc__ or "")
