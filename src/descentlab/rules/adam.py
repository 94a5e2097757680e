r"""Adam, AMSGrad and AdamW.

With learning rate :math:`\gamma`, :math:`\beta_1, \beta_2`, :math:`\epsilon`, weight decay :math:`\lambda`,
and :math:`t` the number of this update (1 on the first):

.. math::

    g_t &\leftarrow \nabla f(\theta_{t-1}) \quad(\text{negated when } \texttt{maximize}) \\
    &\text{L2 (Adam):}\quad g_t \leftarrow g_t + \lambda\,\theta_{t-1}
     \qquad \text{decoupled (AdamW):}\quad \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \\
    m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ with } \texttt{amsgrad}, \text{ else } v_t \\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\;
        \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}

Papers: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015 (Algorithm 1);
Reddi, Kale & Kumar, *On the Convergence of Adam and Beyond*, ICLR 2018 (AMSGrad);
Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019 (AdamW).

Conventions:

- As ``torch.optim.Adam`` (Algorithm 1 of the paper): ε is added *after* the bias-corrected root. Keras and
  TensorFlow use the form given just before §2.1 of the paper, :math:`\hat\epsilon` added to the uncorrected
  root with the correction folded into the step size, and default ε = 1e-7 (torch: 1e-8). The two forms agree
  when :math:`\hat\epsilon = \epsilon\sqrt{1-\beta_2^t}`. ``eps_hat=True`` (last in the defaults, so
  positional arguments stay torch's) takes Keras's form, as in Keras 3's
  ``keras/src/optimizers/adam.py``:

  .. math::

      \theta_t \leftarrow \theta_{t-1} - \gamma\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\;
          \frac{m_t}{\sqrt{\hat v_t} + \hat\epsilon}

  The workbench's ``keras`` preset sets it. Its fused path runs torch's kernel with
  :math:`\epsilon_t = \hat\epsilon/\sqrt{1-\beta_2^t}`, the identity above read the other way, when every
  tensor of the call is at the same step ``t``. Keras's ``weight_decay`` is decoupled (AdamW-style) whatever the
  optimizer.
- AMSGrad takes the running maximum of :math:`v_t` itself (torch's choice), not of its bias-corrected value.
- AdamW multiplies the decay by the learning rate (:math:`\gamma\lambda`, as torch); the paper decays by a
  separate schedule multiplier :math:`\eta_t \lambda`. Defaults: Adam weight_decay 0, AdamW 0.01.

State keys: ``step``, ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq`` (amsgrad), as in torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from descentlab.rules.base import (
    Hyper,
    HyperparameterError,
    Rule,
    addcdiv_,
    bias_correction,
    check_common,
    descent_gradient,
    ema_,
    ema_sq_,
    host_steps,
    maximum_,
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
    "amsgrad": False,
    "maximize": False,
    "decoupled_weight_decay": False,
    "eps_hat": False,  # Keras/TensorFlow's ε placement; not a torch.optim argument
}


def validate(h: Hyper) -> None:
    check_common("adam", h)


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    state: dict[str, Any] = {
        "step": new_step(),
        "exp_avg": zeros(p),
        "exp_avg_sq": zeros(p),
    }
    if h["amsgrad"]:
        state["max_exp_avg_sq"] = zeros(p)
    return state


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    t = step_count(state)
    lr, (beta1, beta2), eps = h["lr"], h["betas"], h["eps"]
    g = descent_gradient(p, g, h, decoupled=h["decoupled_weight_decay"])
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    ema_(exp_avg, g, beta1)
    ema_sq_(exp_avg_sq, g, beta2)
    step_size = lr / bias_correction(beta1, t)
    bias_correction2_sqrt = bias_correction(beta2, t) ** 0.5
    if h["amsgrad"]:
        v = state["max_exp_avg_sq"]
        maximum_(v, exp_avg_sq)
    else:
        v = exp_avg_sq
    if h["eps_hat"]:
        addcdiv_(p, exp_avg, sqrt_add(v, eps), -step_size * bias_correction2_sqrt)
        return
    denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
    addcdiv_(p, exp_avg, denom, -step_size)


def _adamw_validate(h: Hyper) -> None:
    check_common("adamw", h)
    # AdamW's decay is decoupled, always (torch.optim.AdamW has no such keyword and sets it True on every load of
    # a state_dict, even one saved by Adam): the keyword exists so that ``AdamW(params, **opt.defaults)`` works.
    if h["decoupled_weight_decay"] is not True:
        raise HyperparameterError(f"adamw: invalid decoupled_weight_decay={h['decoupled_weight_decay']!r}; allowed: "
                                  "True (AdamW's weight decay is decoupled; Adam takes decoupled_weight_decay=False)")


def fused(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper, *,
          grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> bool:
    """torch's fused Adam/AdamW kernel over the list: the same math as :func:`update`, one pass per tensor.

    ``grad_scale``/``found_inf`` (GradScaler's): the kernel divides the gradients by the scale, and leaves
    everything untouched where ``found_inf`` is set; the step counters are put back then, as torch does."""
    steps = [s["step"] for s in states]
    device = params[0].device
    # torch keeps the unfused step counter on the CPU; its fused kernels want it beside the parameter. Counters
    # on the host beside parameters on an accelerator (the default path's state, as torch's) are copied over for
    # the call (host_steps); GradScaler's arguments come only with fused=True, whose counters are on the device.
    host = device.type != "cpu" and all(t.device.type == "cpu" for t in steps)
    if host and (grad_scale is not None or found_inf is not None):
        return False
    if device.type != "cpu" and not host and any(t.device != p.device for t, p in zip(steps, params)):
        return False
    beta1, beta2 = h["betas"]
    eps = h["eps"]
    if h["eps_hat"]:  # Keras's ε̂ is torch's ε·√(1 − β₂ᵗ): one t for the call, read without a device sync
        if device.type != "cpu" and not host:
            return False
        t = steps[0].item() + 1
        if any(s.item() + 1 != t for s in steps[1:]):
            return False
        eps = eps / (1 - beta2**t) ** 0.5
    torch._foreach_add_(steps, 1)
    kernel = torch._fused_adamw_ if h["decoupled_weight_decay"] else torch._fused_adam_
    kernel(
        params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
        [s["max_exp_avg_sq"] for s in states] if h["amsgrad"] else [], host_steps(steps, device) if host else steps,
        amsgrad=h["amsgrad"], lr=h["lr"], beta1=beta1, beta2=beta2, weight_decay=h["weight_decay"],
        eps=eps, maximize=h["maximize"], grad_scale=grad_scale, found_inf=found_inf,
    )
    if found_inf is not None:
        torch._foreach_sub_(steps, [found_inf] * len(steps))
    return True


ADAM = Rule(
    name="adam",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"amsgrad", "maximize", "decoupled_weight_decay"}),
    fused=fused,
    paper="Kingma & Ba 2015 (ICLR); Reddi et al. 2018 (AMSGrad)",
    elementwise=True,
)


ADAMW = Rule(
    name="adamw",
    defaults={**DEFAULTS, "weight_decay": 1e-2, "decoupled_weight_decay": True},
    init_state=init_state,
    update=update,
    validate=_adamw_validate,
    flags=frozenset({"amsgrad", "maximize", "decoupled_weight_decay"}),
    fused=fused,
    paper="Loshchilov & Hutter 2019 (ICLR)",
    elementwise=True,
)
