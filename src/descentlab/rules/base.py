"""What an update rule is, and the checks every rule uses on its hyperparameters.

A rule is the single source of truth for one optimizer's math. It is three plain pieces:

- ``defaults``: every hyperparameter with its default, named and ordered as in ``torch.optim``;
- ``init_state(p, h)``: the per-parameter state, under torch's state keys (``step``, ``exp_avg``…);
- ``update(p, g, state, h)``: one step, in place on ``p`` and ``state``.

Hyperparameters in ``h`` may be Python numbers *or* tensors that broadcast against ``p`` (for the vectorized
trainer, shape ``[K, 1, …]`` against parameters stacked as ``[K, …]``). Flags that change the code path
(``nesterov``, ``amsgrad``, ``centered``, ``maximize``…) are always Python bools.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from descentlab.errors import UserError

Hyper = Mapping[str, Any]
Scalar = float | Tensor


class HyperparameterError(UserError):
    """An invalid hyperparameter: the message names the rule, the parameter, the value and what is allowed."""


class UnknownHyperparameterError(HyperparameterError, TypeError):
    """A keyword the rule does not have: a ``TypeError`` as Python's for an unexpected keyword argument (and
    still a ``ValueError``/``UserError``, so the CLI prints its one line)."""


@dataclass(frozen=True)
class Rule:
    """One optimizer's update rule. See the module docstring for the contract."""

    name: str
    defaults: Mapping[str, Any]
    init_state: Callable[[Tensor, Hyper], dict[str, Any]]
    update: Callable[[Tensor, Tensor, dict[str, Any], Hyper], None]
    validate: Callable[[Hyper], None]
    flags: frozenset[str] = field(default_factory=frozenset)
    paper: str = ""
    # Optional fast path over a list of same-device, same-dtype tensors with Python-number hyperparameters,
    # proven equal to ``update`` by tests. Returns False when it cannot take these tensors.
    # It also takes keywords ``grad_scale`` and ``found_inf`` (GradScaler's, torch's fused-kernel meaning).
    fused: Callable[..., bool] | None = None
    # Declared capabilities: what the front-ends (the optimizer class, the vectorized trainer, the tracer) read
    # instead of inspecting the rule's code.
    # - fixed: hyperparameters that must stay Python values (no per-configuration tensors): configurations that
    #   differ in one are trained in separate slots. Flags and non-numbers are always fixed.
    fixed: frozenset[str] = field(default_factory=frozenset)
    # - group_state: per-group counters that the optimizer class advances once per step (schedule-free's k,
    #   lr_max, weight_sum): the rule's update cannot be applied to slices of a stack on its own.
    group_state: bool = False
    # - averaged_iterate: gradients are taken at one point (y) and the model is evaluated at another (x), switched
    #   by the optimizer's train()/eval().
    averaged_iterate: bool = False
    # - for_shape(h, shape): the hyperparameters for a parameter of this (unstacked) shape, for rules whose
    #   update depends on the parameter's shape (Muon: 2-D parameters take Muon, the others AdamW).
    for_shape: Callable[[Hyper, torch.Size], Hyper] | None = None
    # - sparse: whether ``update`` takes sparse gradients (``nn.Embedding(sparse=True)``); others are refused.
    sparse: bool = False
    # - elementwise: with Python-number hyperparameters, ``update`` computes each element of the parameter and of
    #   every parameter-shaped state tensor from the same element of the parameter, gradient and state alone (no
    #   shape, reduction over dimensions or matrix product): updating 1-D views of them is the same step. The
    #   generated fused step (``rules/generated.py``) then compiles one program for parameters of every number of
    #   dimensions. False (the default) is always safe: the step keeps the parameters' shapes.
    elementwise: bool = False
    # - compile_by_default: whether ``DESCENTLAB_COMPILE=auto`` (the default) takes the generated fused step for a
    #   large group of this rule. False where the readable ``update`` was measured no slower than the compiled one
    #   (benchmarks/optimizer_step.py): a step of two or three tensor operations whose operands stay in cache.
    #   ``fused=True`` and ``DESCENTLAB_COMPILE=1`` still compile it.
    compile_by_default: bool = True
    # - follows_lr: hyperparameters that a change of ``lr`` after the group was built (a schedule, an LR scheduler)
    #   scales by the same factor (Muon's ``adamw_lr``): the step takes ``value × lr / built_lr``
    #   (:func:`follow_lr`), where ``built_lr`` is the group's ``lr`` when it was built.
    follows_lr: frozenset[str] = field(default_factory=frozenset)

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated by ``overrides``; unknown keys and bad values raise :class:`HyperparameterError`."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise UnknownHyperparameterError(
                f"{self.name}: unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(self.defaults)}"
            )
        h = {**self.defaults, **overrides}
        self.validate(h)
        return h


def follow_lr(value: Scalar, lr: Scalar, built_lr: float) -> Scalar:
    """A :attr:`Rule.follows_lr` hyperparameter at learning rate ``lr``, in a group built at ``built_lr``:
    ``value × (lr / built_lr)``, the same factor a schedule applies to ``lr``. ``value`` itself, the same bits as
    a run without a schedule, while ``lr`` is still ``built_lr`` (a Python number; a tensor ``lr`` is always
    scaled) or when ``built_lr`` is 0 (a group built not to move has no ratio to keep)."""
    if built_lr == 0 or (not isinstance(lr, Tensor) and lr == built_lr):
        return value
    return value * (lr / built_lr)


# --- validation --------------------------------------------------------------------------------------------


def _values(x: Any) -> list[float]:
    if isinstance(x, Tensor):
        return [float(v) for v in x.detach().flatten().tolist()]
    return [x]


# torch.optim's own message for an invalid value of each hyperparameter its classes check (``{}``: the value as
# torch prints it). Ours is appended to ours, so that code matching torch's text (torch's own test suite does)
# matches ours too.
TORCH_WORDS: dict[str, str] = {
    "lr": "Invalid learning rate: {}",
    "eps": "Invalid epsilon value: {}",
    "weight_decay": "Invalid weight_decay value: {}",
    "betas[0]": "Invalid beta parameter at index 0: {}",
    "betas[1]": "Invalid beta parameter at index 1: {}",
    "momentum": "Invalid momentum value: {}",
    "rho": "Invalid rho value: {}",
    "alpha": "Invalid alpha value: {}",
    "lr_decay": "Invalid lr_decay value: {}",
    "initial_accumulator_value": "Invalid initial_accumulator_value value: {}",
    "momentum_decay": "Invalid momentum_decay value: {}",
}


def fail(rule: str, name: str, value: Any, allowed: str, torch_words: str | None = None) -> None:
    """Raise the one message of a bad hyperparameter: its value and what is allowed, then torch.optim's words for
    it (``torch_words``, a format string given the value), which code matching torch's text looks for."""
    shown = value.tolist() if isinstance(value, Tensor) else value
    also = f" (torch.optim: {torch_words.format(value)})" if torch_words else ""
    raise HyperparameterError(f"{rule}: invalid {name}={shown!r}; allowed: {allowed}{also}")


def check_number(rule: str, name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False, torch_words: str | None = None) -> None:
    """Raise unless every element of ``value`` is a finite-or-inf real number in the stated interval.

    ``torch_words``: torch.optim's message for this value (a format string), appended to ours."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    allowed = f"a number in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    if lo is not None and hi is None:
        allowed = f"a number {'>' if lo_open else '≥'} {lo}"
    for v in _values(value):
        # numbers.Real: Python's and NumPy's (np.float32, np.int64), as torch takes them; not bools.
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            fail(rule, name, value, allowed, torch_words)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            fail(rule, name, value, allowed, torch_words)
        if hi is not None and (v > hi or (hi_open and v == hi)):
            fail(rule, name, value, allowed, torch_words)


def check_bool(rule: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        fail(rule, name, value, "True or False")


def check_betas(rule: str, value: Any, n: int = 2, *, torch_words: bool = True) -> None:
    if not isinstance(value, (tuple, list)) or len(value) != n:
        fail(rule, "betas", value, f"a tuple of {n} numbers in [0, 1)")
    for i, b in enumerate(value):
        name = f"betas[{i}]"
        check_number(rule, name, b, lo=0.0, hi=1.0, hi_open=True,
                     torch_words=TORCH_WORDS.get(name) if torch_words else None)


def check_common(rule: str, h: Hyper, *, torch_words: bool = True) -> None:
    """The checks shared by most rules: lr ≥ 0, eps > 0, weight_decay ≥ 0, flags are bools.

    ``torch_words``: whether the messages also carry torch.optim's (for the rules torch.optim has)."""
    def words(name: str) -> str | None:
        return TORCH_WORDS.get(name) if torch_words else None

    if "lr" in h:
        check_number(rule, "lr", h["lr"], lo=0.0, torch_words=words("lr"))
    if "eps" in h:
        check_number(rule, "eps", h["eps"], lo=0.0, lo_open=True, torch_words=words("eps"))
    if "weight_decay" in h:
        check_number(rule, "weight_decay", h["weight_decay"], lo=0.0, torch_words=words("weight_decay"))
    if "betas" in h:
        check_betas(rule, h["betas"], torch_words=torch_words)
    for flag in ("maximize", "amsgrad", "nesterov", "centered", "decoupled_weight_decay", "eps_hat",
                 "eps_inside_sqrt"):
        if flag in h:
            check_bool(rule, flag, h[flag])


# --- arithmetic that accepts a Python number or a broadcasting tensor as the coefficient -------------------


def sqrt_add(x: Tensor, eps: Scalar, *, inplace: bool = False) -> Tensor:
    r""":math:`\sqrt{x} + \epsilon`. The root is taken in place on ``x`` when ``inplace`` (a temporary of the
    caller's), and ε is added in place on the root unless autograd records the step (``differentiable=True``),
    whose backward needs the root itself."""
    root = x.sqrt_() if inplace else x.sqrt()
    return root + eps if root.requires_grad else root.add_(eps)


def maximum_(a: Tensor, b: Tensor) -> Tensor:
    """``a ← max(a, b)`` elementwise; through a temporary when autograd records it (``out=`` has no backward)."""
    if a.requires_grad or b.requires_grad:
        return a.copy_(torch.maximum(a, b))
    return torch.maximum(a, b, out=a)


def nonzero(x: Scalar) -> bool:
    """Whether a term with coefficient ``x`` must be computed. A tensor may hold zeros for some
    configurations; computing the term with a zero coefficient is exact, so tensors always count."""
    return isinstance(x, Tensor) or x != 0


def add_(p: Tensor, x: Tensor, alpha: Scalar) -> Tensor:
    """``p += alpha * x``."""
    if isinstance(alpha, Tensor):
        return p.addcmul_(x, alpha)
    return p.add_(x, alpha=alpha)


def added(x: Tensor, y: Tensor, alpha: Scalar) -> Tensor:
    """``x + alpha * y`` as a new tensor."""
    if isinstance(alpha, Tensor):
        return torch.addcmul(x, y, alpha)
    return x.add(y, alpha=alpha)


def addcmul_(p: Tensor, a: Tensor, b: Tensor, value: Scalar) -> Tensor:
    """``p += value * a * b``."""
    if isinstance(value, Tensor):
        return p.addcmul_(a * value, b)
    return p.addcmul_(a, b, value=value)


def addcdiv_(p: Tensor, a: Tensor, b: Tensor, value: Scalar) -> Tensor:
    """``p += value * a / b``."""
    if isinstance(value, Tensor):
        return p.addcmul_(a / b, value)
    return p.addcdiv_(a, b, value=value)


def step_count(state: dict[str, Any]) -> int | Tensor:
    """Increment and return ``state['step']`` (torch keeps it as a float32 tensor; t = 1 on the first update).

    While ``torch.compile`` traces the rule (the generated fused step, ``rules/generated.py``, or a user's compiled
    training step) the counter is returned as a 0-d float64 tensor, not read with ``.item()`` (which would split
    the compiled program): the rules' scalar arithmetic takes either. So is a counter kept on an accelerator
    (``capturable=True``, a fused group's state), which is never read back: ``.item()`` would wait for the
    device at every step and cannot be captured in a CUDA graph, which is what ``capturable`` promises."""
    state["step"] += 1
    step = state["step"]
    if torch.compiler.is_compiling() or step.device.type != "cpu":
        # In float64, as the Python int it stands for: a float32 count would round the bias corrections
        # (1 − 0.999ᵗ) to float32, ≈ 1e-7 from the uncompiled step (torch's compiled and capturable Adam do so).
        # (MPS has no float64.)
        return step.to(torch.float32 if step.device.type == "mps" else torch.float64)
    return int(step.item())


def host_steps(steps: list[Tensor], device: torch.device) -> list[Tensor]:
    """The host's step counters, for a fused kernel, on ``device``: one float32 tensor per distinct count, shared
    by the tensors at that count (the kernel only reads them). Each is filled on the device with the value the
    host knows (``torch.full``, a kernel launch), not copied from the host: a copy from pageable memory would
    wait for the device at every step."""
    made: dict[float, Tensor] = {}
    out = []
    for t in steps:
        value = t.item()  # (a counter on the host: no wait)
        if value not in made:
            made[value] = torch.full((), value, dtype=torch.float32, device=device)
        out.append(made[value])
    return out


def new_step() -> Tensor:
    """A zero ``step`` counter as torch creates it: float32, or float64 when that is the default dtype."""
    return torch.tensor(0.0, dtype=torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32)


def zeros(p: Tensor) -> Tensor:
    """A state tensor of zeros shaped, typed and laid out like ``p`` (as torch.optim creates its state)."""
    return torch.zeros_like(p, memory_format=torch.preserve_format)


# --- the steps rules share, named (as optax names its pieces) ------------------------------------------------------


def descent_gradient(p: Tensor, g: Tensor, h: Hyper, *, decoupled: bool = False) -> Tensor:
    r"""The gradient a rule steps on: :math:`-g` when ``h["maximize"]``; with weight decay
    :math:`\lambda` = ``h["weight_decay"]``, the L2 term :math:`g + \lambda\theta` (torch's default), or, decoupled
    (AdamW, Loshchilov & Hutter 2019), :math:`\theta \leftarrow \theta(1 - \gamma\lambda)` in place with
    :math:`\gamma` = ``h["lr"]`` and the gradient unchanged."""
    if h["maximize"]:
        g = -g
    wd = h["weight_decay"]
    if nonzero(wd):
        if decoupled:
            p.mul_(1 - h["lr"] * wd)
        else:
            g = added(g, p, wd)
    return g


def ema_(avg: Tensor, x: Tensor, beta: Scalar) -> Tensor:
    r"""A first moment in place: :math:`m \leftarrow \beta m + (1 - \beta) x`."""
    return avg.lerp_(x, 1 - beta)


def ema_sq_(avg: Tensor, x: Tensor, beta: Scalar) -> Tensor:
    r"""A second moment in place: :math:`v \leftarrow \beta v + (1 - \beta) x^2`."""
    avg.mul_(beta)
    return addcmul_(avg, x, x, 1 - beta)


def bias_correction(beta: Scalar, t: int) -> Scalar:
    r""":math:`1 - \beta^t`, what a moment started at zero is divided by after :math:`t` steps (Kingma & Ba 2015)."""
    return 1 - beta**t
