r"""Muon: MomentUm Orthogonalized by Newton–Schulz, for the matrices of hidden layers; AdamW for the rest.

For a matrix parameter :math:`\Theta \in \mathbb{R}^{A\times B}`, with learning rate :math:`\gamma`, momentum
:math:`\mu`, weight decay :math:`\lambda`, Newton–Schulz coefficients :math:`(a, b, c)` and :math:`s` steps:

.. math::

    B_t &\leftarrow \mu B_{t-1} + (1-\mu)\, G_t \qquad (B_0 = 0) \\
    U_t &\leftarrow \begin{cases} (1-\mu)\, G_t + \mu B_t & \texttt{nesterov} \\ B_t & \text{otherwise}
        \end{cases} \\
    X_0 &\leftarrow U_t / \max(\lVert U_t \rVert_F, \epsilon), \qquad
        X_{i+1} \leftarrow a X_i + (b\, X_i X_i^\top + c\, (X_i X_i^\top)^2)\, X_i \quad (i < s) \\
    \Theta_t &\leftarrow \Theta_{t-1}(1 - \gamma\lambda) - \gamma\, \rho(A, B)\, X_s

(:math:`X` is transposed first when :math:`A > B`, so that :math:`X X^\top` is the smaller Gram matrix.)
:math:`X_s \approx U S' V^\top` where :math:`U S V^\top` is the SVD of the update and :math:`S'_{ii}` lie roughly
in (0.5, 1.5): the iteration orthogonalizes the update. ``adjust_lr_fn`` picks :math:`\rho`:
``None``/``"original"`` :math:`\sqrt{\max(1, A/B)}` (Keller Jordan's), ``"match_rms_adamw"``
:math:`0.2\sqrt{\max(A, B)}` (Moonshot's, so that AdamW's learning rate and weight decay carry over).

Papers: Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein, *Muon: An optimizer for hidden layers in neural
networks*, 2024 (kellerjordan.github.io/posts/muon); Liu et al., *Muon is Scalable for LLM Training*, 2025
(arXiv:2502.16982).

Conventions (as ``torch.optim.Muon``, which our tests compare against):

- The momentum is an exponential average (``lerp``), not torch's documented :math:`\mu B + G`; Nesterov
  interpolates the gradient towards the buffer. Weight decay is decoupled and multiplied by the un-adjusted
  :math:`\gamma`. Defaults: lr 1e-3, weight_decay 0.1, momentum 0.95, nesterov True,
  (a, b, c) = (3.4445, −4.775, 2.0315), eps 1e-7, ns_steps 5 (Keller Jordan uses lr 0.02).
- The Newton–Schulz iteration runs in ``ns_dtype``, bfloat16 by default as torch and the authors; ``None``
  runs it in the parameter's dtype (exact, slower). Unlike torch, the input is always copied, so a bfloat16
  momentum buffer is never normalized in place.
- Leading dimensions are batch dimensions: a ``[K, A, B]`` parameter is K matrices orthogonalized separately
  (the vectorized trainer's layout), with ``lr``, ``weight_decay`` and ``momentum`` possibly tensors of
  shape ``[K, 1, 1]``. ``ns_coefficients``, ``ns_steps``, ``eps``, ``adjust_lr_fn``, ``ns_dtype`` are Python
  values.

**Muon is only for matrices.** :data:`MUON` is the matrix rule alone. :data:`MUON_WITH_ADAMW` (the rule behind
``descentlab.optim.Muon``, registry name ``muon``) applies it to the parameters that are matrices and the AdamW
rule (:data:`descentlab.rules.adam.ADAMW`, with ``adamw_lr``, ``adamw_betas``, ``adamw_eps``,
``adamw_weight_decay``) to the others, as the authors recommend for biases, gains, embeddings and the output
head. Which is which: the group key ``use_muon`` — ``None`` (default) means "2-D parameters use Muon";
``True``/``False`` decide for the whole group (set ``use_muon=False`` on a group holding the embedding and the
head; with stacked ``[K, …]`` parameters always set it, since a stacked bias is 2-D). AdamW defaults are those of
Keller Jordan's ``MuonWithAuxAdam``: lr 3e-4, betas (0.9, 0.95), eps 1e-10, weight_decay 0. In
``descentlab.optim.Muon`` a 4-D convolution filter of a ``use_muon=True`` group is the matrix
``[out, in·kh·kw]``, as in his ``Muon``, and a ``use_muon=False`` group takes ``adamw_*`` keys, not his ``lr``,
``betas``, ``eps``, ``weight_decay`` (refused there).

**Schedules move both halves.** ``adamw_lr`` is the AdamW half's rate while ``lr`` is the rate the group was
built with (its ``built_lr`` key, saved in ``state_dict``): a step at learning rate ``lr`` takes
:math:`\texttt{adamw\_lr} \cdot \texttt{lr} / \texttt{built\_lr}` (:attr:`Rule.follows_lr
<descentlab.rules.base.Rule>`), so a torch LR scheduler, a descentlab schedule or a hand edit of ``lr`` scales
both halves by the same factor, as Keller Jordan's ``MuonWithAuxAdam`` under his training loop's schedule. Build
the optimizer with the peak rate (``OneCycleLR``'s ``max_lr``) for ``adamw_lr`` to be the AdamW half's peak. A
group built with ``lr=0`` keeps ``adamw_lr``; without a schedule the numbers are those of a constant ``adamw_lr``,
bit for bit.

State keys: ``momentum_buffer`` (matrices, as torch.optim.Muon); ``step``, ``exp_avg``, ``exp_avg_sq`` (the rest,
as torch.optim.AdamW).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from descentlab.rules import adam
from descentlab.rules.base import (
    Hyper,
    HyperparameterError,
    Rule,
    Scalar,
    add_,
    check_betas,
    check_bool,
    check_number,
    fail,
    nonzero,
    zeros,
)

DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 0.1,
    "momentum": 0.95,
    "nesterov": True,
    "ns_coefficients": (3.4445, -4.775, 2.0315),
    "eps": 1e-7,
    "ns_steps": 5,
    "adjust_lr_fn": None,
    "ns_dtype": torch.bfloat16,
}
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def _validate_muon(rule: str, h: Hyper) -> None:
    # torch.optim.Muon's own messages are appended to ours (see rules.base.TORCH_WORDS).
    check_number(rule, "lr", h["lr"], lo=0.0, torch_words="Learning rate should be >= 0 but is: {}")
    check_number(rule, "weight_decay", h["weight_decay"], lo=0.0,
                 torch_words="weight decay should be >= 0 but is: {}")
    # torch.optim.Muon: momentum ≥ 0 only
    check_number(rule, "momentum", h["momentum"], lo=0.0, torch_words="momentum should be >= 0 but is: {}")
    check_bool(rule, "nesterov", h["nesterov"])
    coefficients = h["ns_coefficients"]
    if (not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in coefficients)):
        fail(rule, "ns_coefficients", coefficients, "a tuple of 3 numbers (a, b, c)")
    eps = h["eps"]
    if isinstance(eps, Tensor):
        fail(rule, "eps", eps.tolist(), "a Python number > 0")
    check_number(rule, "eps", eps, lo=0.0, lo_open=True)
    steps = h["ns_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps < 100:
        fail(rule, "ns_steps", steps, "an integer in [0, 100)",
             "Number of steps must be less than 100 for computational efficiency")
    if h["adjust_lr_fn"] not in ADJUST_LR_FNS:
        fail(rule, "adjust_lr_fn", h["adjust_lr_fn"], "None, 'original' or 'match_rms_adamw'",
             "Adjust learning rate function {} is not supported")
    dtype = h["ns_dtype"]
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        fail(rule, "ns_dtype", dtype, "None or a floating-point torch.dtype")


def validate(h: Hyper) -> None:
    _validate_muon("muon", h)


def newton_schulz(u: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float,
                  dtype: torch.dtype | None) -> Tensor:
    """The approximately orthogonalized ``u`` (``[..., A, B]``; leading dimensions are batch dimensions).

    For a 2-D ``u`` the operations are torch.optim.Muon's, one for one (so bfloat16 results agree bit for bit).
    """
    a, b, c = coefficients
    shape = u.shape
    x = u.to(dtype or u.dtype, copy=True)
    if x.ndim > 3:
        x = x.reshape(-1, *shape[-2:])
    tall = shape[-2] > shape[-1]
    if tall:
        x = x.mT
    norm = x.norm() if x.ndim == 2 else x.norm(dim=(-2, -1), keepdim=True)
    x.div_(norm.clamp(min=eps))
    addmm = torch.addmm if x.ndim == 2 else torch.baddbmm
    for _ in range(steps):
        gram = x @ x.mT
        x = addmm(x, addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    if tall:
        x = x.mT
    return x.reshape(shape)


def lr_ratio(adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """:math:`\\rho(A, B)` for a parameter of shape ``[..., A, B]``."""
    rows, cols = shape[-2], shape[-1]
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return math.sqrt(max(1, rows / cols))


def init_state(p: Tensor, h: Hyper) -> dict[str, Any]:
    return {"momentum_buffer": zeros(p)}


def update(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    if p.ndim < 2:
        raise ValueError(f"muon: the Muon rule needs a matrix (or a stack of matrices), got shape {tuple(p.shape)}")
    lr, wd, momentum = h["lr"], h["weight_decay"], h["momentum"]
    buf = state["momentum_buffer"]
    buf.lerp_(g, 1 - momentum)
    u = g.lerp(buf, momentum) if h["nesterov"] else buf
    o = newton_schulz(u, h["ns_coefficients"], h["ns_steps"], h["eps"], h["ns_dtype"])
    if nonzero(wd):
        p.mul_(1 - lr * wd)
    step: Scalar = lr * lr_ratio(h["adjust_lr_fn"], p.shape)
    add_(p, o, -step)


# Newton–Schulz's coefficients, step count and eps shape the iteration itself: never per-configuration tensors.
_FIXED = frozenset({"ns_coefficients", "ns_steps", "eps"})

MUON = Rule(
    name="muon",
    defaults=DEFAULTS,
    init_state=init_state,
    update=update,
    validate=validate,
    flags=frozenset({"nesterov"}),
    fixed=_FIXED,
    paper="Jordan et al. 2024, Muon: An optimizer for hidden layers in neural networks",
)


# --- Muon for matrices, AdamW for the rest -------------------------------------------------------------------

ADAMW_KEYS = {"adamw_lr": "lr", "adamw_betas": "betas", "adamw_eps": "eps", "adamw_weight_decay": "weight_decay"}
WITH_ADAMW_DEFAULTS: dict[str, Any] = {
    **DEFAULTS,
    "adamw_lr": 3e-4,
    "adamw_betas": (0.9, 0.95),
    "adamw_eps": 1e-10,
    "adamw_weight_decay": 0.0,
    "use_muon": None,
}


def uses_muon(p: Tensor, h: Hyper) -> bool:
    """Whether ``p`` gets the Muon rule: the group's ``use_muon`` if set, else whether ``p`` is 2-D."""
    return p.ndim == 2 if h["use_muon"] is None else h["use_muon"]


def for_shape(h: Hyper, shape: torch.Size) -> Hyper:
    """The group's hyperparameters for a parameter of ``shape``: ``use_muon`` decided (2-D: Muon) if it was not."""
    return h if h["use_muon"] is not None else {**h, "use_muon": len(shape) == 2}


def adamw_hyperparameters(h: Hyper) -> dict[str, Any]:
    """The AdamW rule's hyperparameters taken from the ``adamw_*`` keys."""
    return {**adam.ADAMW.defaults, **{ours: h[key] for key, ours in ADAMW_KEYS.items()}}


def _validate_with_adamw(h: Hyper) -> None:
    _validate_muon("muon", h)
    check_number("muon", "adamw_lr", h["adamw_lr"], lo=0.0)
    check_number("muon", "adamw_eps", h["adamw_eps"], lo=0.0, lo_open=True)
    check_number("muon", "adamw_weight_decay", h["adamw_weight_decay"], lo=0.0)
    try:
        check_betas("muon", h["adamw_betas"])
    except HyperparameterError as e:
        raise HyperparameterError(str(e).replace("invalid betas", "invalid adamw_betas")) from None
    if h["use_muon"] not in (None, True, False):
        fail("muon", "use_muon", h["use_muon"], "None (2-D parameters use Muon), True or False")


def _init_with_adamw(p: Tensor, h: Hyper) -> dict[str, Any]:
    if uses_muon(p, h):
        return init_state(p, h)
    return adam.ADAMW.init_state(p, adamw_hyperparameters(h))


def _update_with_adamw(p: Tensor, g: Tensor, state: dict[str, Any], h: Hyper) -> None:
    if uses_muon(p, h):
        update(p, g, state, h)
    else:
        adam.ADAMW.update(p, g, state, adamw_hyperparameters(h))


def fused_with_adamw(params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], h: Hyper, *,
                      grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> bool:
    """The AdamW half through torch's fused AdamW kernel (:func:`descentlab.rules.adam.fused`, the same math as
    :func:`_update_with_adamw`'s AdamW branch), the matrices through :func:`update` one by one (matrix products:
    there is no memory pass to save). Declines GradScaler's calls and anything the AdamW kernel declines.

    The rule's ``fused``: ``descentlab.optim.Muon`` calls it for its groups, the vectorized trainer for each
    configuration's own rows, so that both give the same bits."""
    if grad_scale is not None or found_inf is not None:
        return False
    rest = [i for i, p in enumerate(params) if not uses_muon(p, h)]
    if rest and not adam.fused([params[i] for i in rest], [grads[i] for i in rest], [states[i] for i in rest],
                               adamw_hyperparameters(h)):
        return False
    taken = set(rest)
    for i, (p, g, s) in enumerate(zip(params, grads, states)):
        if i not in taken:
            update(p, g, s, h)
    return True


MUON_WITH_ADAMW = Rule(
    name="muon",
    defaults=WITH_ADAMW_DEFAULTS,
    init_state=_init_with_adamw,
    update=_update_with_adamw,
    validate=_validate_with_adamw,
    flags=frozenset({"nesterov"}),
    fixed=_FIXED,
    for_shape=for_shape,
    fused=fused_with_adamw,
    follows_lr=frozenset({"adamw_lr"}),
    paper=MUON.paper + "; AdamW (Loshchilov & Hutter 2019) for the non-matrix parameters",
)
