"""The ``torch.optim.Optimizer`` front-end over a rule.

All bookkeeping lives here (parameter groups, lazily created per-parameter state under torch's keys,
closures, ``state_dict``, torch's ``foreach``/``fused``/``capturable``/``differentiable`` group flags, complex
and sparse gradients, ``GradScaler``'s ``grad_scale``/``found_inf``); all math lives in the rule. Being a real
``torch.optim.Optimizer`` subclass is what lets LR schedulers, ``GradScaler``, DDP/FSDP and checkpoint code work
unchanged with our optimizers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeAlias

import torch
import torch.autograd.profiler as _profiler
import torch.optim.optimizer as _torch_optimizer
from torch import Tensor

from descentlab.rules import generated
from descentlab.rules.base import HyperparameterError, Rule, UnknownHyperparameterError, check_number, follow_lr

ParamsT: TypeAlias = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

# Group keys that torch.optim writes: the front-end's flags (torch's defaults), not the rule's hyperparameters.
FRONT_END_DEFAULTS: dict[str, Any] = {"foreach": None, "capturable": False, "differentiable": False, "fused": None}
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_AUTO_FUSED_DTYPES = (torch.float32, torch.float64)  # where a rule's own (torch's) kernel is taken unasked
# Per-parameter state entries that torch keeps as tensors and older torch versions saved as plain numbers.
_SCALAR_STATE = ("step", "mu_product")
# The group key holding the group's lr when it was built, for a rule with ``follows_lr`` hyperparameters.
BUILT_LR = "built_lr"


def _hooked(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` with torch.optim's step hooks and profiler range, entered only when there is something to call.

    ``torch.optim.Optimizer`` wraps every subclass's ``step`` in ``profile_hook_step``: a profiler range and
    loops over the global and per-optimizer pre/post hooks, ≈ 40 µs per call on this CPU even when nothing is
    registered and no profiler runs — as long as the whole fused Adam step of a 100k-parameter MLP. This wrapper
    calls torch's own when a hook is registered or a profiler records, and ``step`` directly otherwise; torch
    sees it marked ``hooked`` and does not wrap it again."""
    full = torch.optim.Optimizer.profile_hook_step(step)

    @functools.wraps(step)
    def wrapper(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if (_profiler._is_profiler_enabled or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _torch_optimizer._global_optimizer_pre_hooks or _torch_optimizer._global_optimizer_post_hooks):
            return full(self, *args, **kwargs)
        return step(self, *args, **kwargs)

    wrapper.hooked = True  # type: ignore[attr-defined]
    return wrapper


def scalar_dtype(fused: bool | None = None) -> torch.dtype:
    """torch's dtype for ``step``: float32 on the fused path, else float64 when that is the default dtype."""
    return torch.float64 if not fused and torch.get_default_dtype() == torch.float64 else torch.float32


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` applies ``rule`` to every parameter with a gradient.

    ``fused``: ``None`` (default) uses a fused kernel when the group allows it (real floating-point, contiguous
    parameters on CPU or CUDA): the rule's own (torch's kernels for SGD, Adagrad, Adam, AdamW; unasked only in
    float32/float64), else the fused
    step generated from the rule by ``torch.compile`` (``rules/generated.py``) for groups of at least
    ``generated.AUTO_MIN_NUMEL`` elements, where it is faster; ``True`` requires a fused path (the generated
    one whatever the size; as torch, it keeps the ``step`` counters on the parameters' device and honours
    ``GradScaler``'s ``grad_scale``/``found_inf``); ``False`` always runs the readable per-tensor rule. The
    environment variable ``DESCENTLAB_COMPILE=0`` turns the generated path off (``1``: on for every group).
    Every path is tested equal to the readable rule.
    ``foreach`` is accepted with torch's meaning of "a multi-tensor path may be used": the result is the same
    whichever path runs. ``differentiable=True`` runs the step with autograd recording (per-tensor rule, as
    torch's differentiable path), so one can differentiate through it. ``capturable=True`` keeps ``step`` on
    the parameters' device.

    A tensor hyperparameter must have one element (torch's rule); it is used as a 0-d tensor. (The vectorized
    trainer broadcasts multi-element hyperparameters through the rules directly, not through this class.)
    """

    rule: ClassVar[Rule]
    # torch's error for a sparse gradient given to a rule that cannot take one (None: a message of our own).
    sparse_error: ClassVar[str | None] = None
    # torch's error for a complex parameter given to an optimizer that refuses them (None: accepted).
    complex_error: ClassVar[str | None] = None
    # Whether the constructor creates every parameter's state (torch's Adagrad does), instead of the first step.
    eager_state: ClassVar[bool] = False

    def __init__(self, params: ParamsT, *args: Any, fused: bool | None = None, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False, **hyper: Any) -> None:
        names = list(self.rule.defaults)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional hyperparameters "
                            f"({', '.join(names)}), got {len(args)}")
        for name, value in zip(names, args):
            if name in hyper:
                raise TypeError(f"{type(self).__name__} got multiple values for {name!r}")
            hyper[name] = value
        for key, value in (("fused", fused), ("foreach", foreach)):
            if value not in (None, True, False):
                raise HyperparameterError(f"{self.rule.name}: invalid {key}={value!r}; allowed: None, True or False")
        _check_one_element(self.rule.name, hyper)
        defaults = self.rule.resolve(hyper)
        # torch's own refusals, in torch's words and types.
        if fused and differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        # Only the flags this class's constructor takes (as torch's: its SGD has no ``capturable``), so that
        # ``type(opt)(params, **opt.defaults)`` rebuilds it; a flag not taken reads as torch's default (_flag).
        given_flags = {"foreach": foreach, "capturable": capturable, "differentiable": differentiable, "fused": fused}
        defaults.update({k: v for k, v in given_flags.items() if k in _front_end_keywords(type(self))})
        super().__init__(params, defaults)
        if self.eager_state:
            for group in self.param_groups:
                h = self.hyperparameters(group)
                for p in group["params"]:
                    self.state[p] = self._new_state(p, group, h)
        if fused:
            # GradScaler hands the fused kernels grad_scale/found_inf instead of unscaling and skipping itself.
            self._step_supports_amp_scaling = True

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Validate the group's own hyperparameters (merged with the defaults) before torch stores it.
        _check_one_element(self.rule.name, {k: v for k, v in param_group.items() if k in self.rule.defaults})
        merged = {k: param_group.get(k, v) for k, v in self.defaults.items() if k in self.rule.defaults}
        self.rule.validate(merged)
        if self.rule.follows_lr:
            # What the follows_lr hyperparameters are relative to: kept when given (a group copied whole from
            # param_groups keeps its ratio), else the group's lr now.
            param_group.setdefault(BUILT_LR, float(merged["lr"]))
            check_number(self.rule.name, BUILT_LR, param_group[BUILT_LR], lo=0.0)
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # A state_dict saved by torch.optim (or an older descentlab, or an older torch) may lack some of our
        # keys, and may hold ``step`` as a plain number.
        for group in self.param_groups:
            for key, value in self.rule.defaults.items():
                group.setdefault(key, value)
            for key in _front_end_keywords(type(self)):
                group.setdefault(key, FRONT_END_DEFAULTS[key])
            if self.rule.follows_lr and BUILT_LR not in group:  # saved before built_lr: a scheduler's start
                group[BUILT_LR] = float(group.get("initial_lr", group["lr"]))
            on_device = _flag(group, "fused") or _flag(group, "capturable")
            for p in group["params"]:
                s = self.state.get(p)
                if not s:
                    continue
                for key in _SCALAR_STATE:
                    if key in s and not torch.is_tensor(s[key]):
                        s[key] = torch.tensor(float(s[key]), dtype=scalar_dtype(_flag(group, "fused")),
                                              device=p.device if on_device else None)

    def hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        """The rule's hyperparameters of ``group``; a one-element tensor is handed over as a 0-d tensor."""
        h = {k: group[k] for k in self.rule.defaults}
        for k, v in h.items():
            if isinstance(v, Tensor) and v.ndim:
                h[k] = v.reshape(())
            elif isinstance(v, tuple) and any(isinstance(x, Tensor) and x.ndim for x in v):
                h[k] = tuple(x.reshape(()) if isinstance(x, Tensor) else x for x in v)
        return h

    def _following_lr(self, group: dict[str, Any], h: dict[str, Any]) -> dict[str, Any]:
        """``h`` with the rule's ``follows_lr`` hyperparameters scaled by ``lr / built_lr``
        (:func:`~descentlab.rules.base.follow_lr`): whatever changed ``lr`` (a torch LR scheduler, a descentlab
        schedule, a hand edit) changes them by the same factor."""
        lr = h["lr"]
        if isinstance(lr, Tensor) and lr.device.type == "cpu":
            lr = lr.item()  # a Python factor: the same bits as a float lr (an accelerator's stays a tensor, no sync)
        return {**h, **{k: follow_lr(h[k], lr, group[BUILT_LR]) for k in self.rule.follows_lr}}

    @_hooked
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # As torch: autograd records the step only for a differentiable optimizer.
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable"))):
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        state, rule = self.state, self.rule
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is not None:
                if g.is_sparse and not rule.sparse:
                    raise RuntimeError(self.sparse_error or f"{rule.name} does not support sparse gradients")
                if self.complex_error and torch.is_complex(p):
                    raise RuntimeError(self.complex_error)
                params.append(p)
                grads.append(g)
        if not params:
            return
        h = self.hyperparameters(group)
        if self.rule.follows_lr:
            h = self._following_lr(group, h)
        states, new = [], []
        for p in params:
            s = state.get(p)  # not state[p]: that would leave an empty entry where torch has none
            if not s:
                s = self._new_state(p, group, h)
                new.append((p, s))
            states.append(s)
        self._apply(group, params, grads, states, h)
        for p, s in new:
            if s:
                state[p] = s

    def _apply(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
               h: dict[str, Any]) -> None:
        """One step of ``group``'s rule on these tensors: a fused path where the group may take one, else the
        readable per-tensor rule."""
        grad_scale, found_inf = getattr(self, "grad_scale", None), getattr(self, "found_inf", None)
        if not self._may_fuse(group):
            self._per_tensor(params, grads, states, h, grad_scale, found_inf)
            return
        parts = _by_device_and_dtype(params)
        for (device, dtype), idx in parts.items():
            ps, gs, ss = ((params, grads, states) if len(parts) == 1 else
                          ([params[i] for i in idx], [grads[i] for i in idx], [states[i] for i in idx]))
            kernel = self._kernel(group, ps)
            if kernel is not None and self._fusable(group, device, dtype, ps, gs):
                fh = _numbers(h)
                if fh is not None and _call_fused(kernel, ps, gs, ss, fh, grad_scale, found_inf):
                    continue
            # The kernel declined (e.g. Keras's ε placement it does not have): the rule, the same numbers.
            self._per_tensor(ps, gs, ss, h, grad_scale, found_inf)

    def _kernel(self, group: dict[str, Any], params: list[Tensor]) -> Callable[..., bool] | None:
        """The fused kernel for these tensors: the rule's own, else the generated one when it is wanted."""
        if self.rule.fused is not None:
            # Automatically (fused=None) only in float32/float64: in float16/bfloat16 torch's CPU kernels do not
            # give its default path's numbers (torch 2.13's _fused_sgd_ leaves most elements unchanged; its fused
            # Adam stays finite where the default overflows), so those take the readable rule, torch's numbers.
            if _flag(group, "fused") is None and params[0].dtype not in _AUTO_FUSED_DTYPES:
                return None
            return self.rule.fused
        if generated.wanted(params, required=bool(_flag(group, "fused")), by_default=self.rule.compile_by_default):
            return generated.fused_step(self.rule)
        return None

    def _new_state(self, p: Tensor, group: dict[str, Any], h: dict[str, Any]) -> dict[str, Any]:
        s = self.rule.init_state(p, h)
        # torch keeps its scalar counters beside the parameter then
        if _flag(group, "fused") or _flag(group, "capturable"):
            for key in _SCALAR_STATE:
                if key in s:
                    dtype = scalar_dtype(_flag(group, "fused")) if key == "step" else None
                    s[key] = s[key].to(device=p.device, dtype=dtype)
        return s

    def _per_tensor(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
                    h: dict[str, Any], grad_scale: Tensor | None = None, found_inf: Tensor | None = None) -> None:
        if found_inf is not None and bool(found_inf.item()):
            return  # GradScaler found an inf or NaN: the step is skipped, state untouched
        recording = torch.is_grad_enabled()  # differentiable=True
        for p, g, state in zip(params, grads, states):
            if recording:
                # Autograd keeps the state tensors of earlier steps for its backward: this step's in-place
                # updates go to copies (torch's differentiable path clones for the same reason).
                state.update({k: v.clone() for k, v in state.items() if torch.is_tensor(v) and k != "step"})
            if grad_scale is not None:
                g = g / grad_scale.to(g.device)
            if torch.is_complex(p):
                # As torch.optim: complex parameters are optimized as pairs of reals. State entries the rule
                # creates during the update are stored back as complex tensors, as torch keeps them.
                pr, gr = torch.view_as_real(p), torch.view_as_real(g)
                real = {k: torch.view_as_real(v) if torch.is_tensor(v) and torch.is_complex(v) else v
                        for k, v in state.items()}
                self.rule.update(pr, gr, real, h)
                for k, v in real.items():
                    if k not in state:
                        shaped = torch.is_tensor(v) and v.shape == pr.shape and v.dtype == pr.dtype
                        state[k] = torch.view_as_complex(v.contiguous()) if shaped else v
            else:
                self.rule.update(p, g, state, h)

    def _may_fuse(self, group: dict[str, Any]) -> bool:
        """Whether the group may take a fused path at all: not refused, not differentiable, not being traced by
        ``torch.compile`` (torch's CPU fused kernels cannot be traced by AOTAutograd — no fake-tensor
        implementation, or a functionalization error — and the generated step is itself compiled: the
        readable rule is traced, and fused by the compiler, as torch's own optimizers are)."""
        return (_flag(group, "fused") is not False and not _flag(group, "differentiable")
                and not torch.compiler.is_compiling())

    def _fusable(self, group: dict[str, Any], device: torch.device, dtype: torch.dtype, params: list[Tensor],
                 grads: list[Tensor]) -> bool:
        # torch's CPU fused kernels read a non-contiguous gradient in memory order, silently giving wrong
        # results (seen with transposed gradients), so only contiguous tensors take the fused path.
        supported = dtype in _FUSED_DTYPES and device.type in ("cpu", "cuda")
        ok = supported and all(not g.is_sparse and p.is_contiguous() and g.is_contiguous()
                               for p, g in zip(params, grads))
        if _flag(group, "fused") and not ok:
            if not supported:  # torch's words (its test suite and users' code match them)
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                                   f"devices: ['cpu', 'cuda'] but {dtype} and {device.type}")
            raise RuntimeError(f"{self.rule.name}: fused=True needs contiguous real floating-point parameters and "
                               "dense gradients on CPU or CUDA")
        return ok


@functools.cache
def _front_end_keywords(cls: type) -> tuple[str, ...]:
    """The front-end flags (``foreach``, ``capturable``, ``differentiable``, ``fused``) that ``cls``'s constructor
    takes: those its ``defaults`` and parameter groups hold."""
    taken = inspect.signature(cls.__init__).parameters
    return tuple(k for k in FRONT_END_DEFAULTS if k in taken)


def _flag(group: dict[str, Any], key: str) -> Any:
    """A front-end flag of ``group``; torch's default where the class does not take it."""
    return group.get(key, FRONT_END_DEFAULTS[key])


def _call_fused(kernel: Callable[..., bool], ps: list[Tensor], gs: list[Tensor], ss: list[dict[str, Any]],
                h: dict[str, Any], grad_scale: Tensor | None, found_inf: Tensor | None) -> bool:
    if grad_scale is None and found_inf is None:  # the vectorized trainer's call, kept as it was
        return kernel(ps, gs, ss, h)
    device = ps[0].device
    return kernel(ps, gs, ss, h, grad_scale=None if grad_scale is None else grad_scale.to(device),
                  found_inf=None if found_inf is None else found_inf.to(device))


def _numbers(h: dict[str, Any]) -> dict[str, Any] | None:
    """``h`` with 0-d tensor hyperparameters read as Python numbers, as our fused kernels' callers pass them
    (torch's kernels read a tensor ``lr`` the same way). A hyperparameter tensor on an accelerator would
    synchronize it on every step: for those (``None``) the per-tensor rule runs instead."""
    tensors = _tensors(h)
    if not tensors:
        return h
    if any(t.device.type != "cpu" for t in tensors):
        return None
    return {k: (v.item() if isinstance(v, Tensor) else
                tuple(x.item() if isinstance(x, Tensor) else x for x in v) if isinstance(v, tuple) else v)
            for k, v in h.items()}


def _check_one_element(rule: str, hyper: dict[str, Any]) -> None:
    """torch's rule for tensor hyperparameters: a 0-d or one-element tensor (a scalar), nothing larger."""
    for k, v in hyper.items():
        items = list(enumerate(v)) if isinstance(v, (tuple, list)) else [(None, v)]
        for i, x in items:
            if isinstance(x, Tensor) and x.numel() != 1:
                name = k if i is None else f"{k}[{i}]"
                raise HyperparameterError(f"{rule}: Tensor {name} must be 1-element; got shape {tuple(x.shape)}")


def _tensors(h: dict[str, Any]) -> list[Tensor]:
    """The hyperparameters (or members of a tuple of them, like ``betas``) that are tensors."""
    found = []
    for v in h.values():
        for x in v if isinstance(v, (tuple, list)) else (v,):
            if isinstance(x, Tensor):
                found.append(x)
    return found


def _by_device_and_dtype(params: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[int]]:
    first = params[0]
    key = (first.device, first.dtype)
    if all(p.device == key[0] and p.dtype == key[1] for p in params):  # the usual case, found without a dict
        return {key: list(range(len(params)))}
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, p in enumerate(params):
        groups.setdefault((p.device, p.dtype), []).append(i)
    return groups


def given(local: dict[str, Any]) -> dict[str, Any]:
    """A typed ``__init__``'s own arguments (its ``locals()``) as keywords for :class:`RuleOptimizer`."""
    return {k: v for k, v in local.items() if k not in ("self", "params", "__class__")}


def make_optimizer_class(name: str, rule: Rule, doc: str) -> type[RuleOptimizer]:
    """A named subclass over ``rule`` for rules added at run time (its ``__init__`` takes the rule's
    hyperparameters by keyword); the classes shipped with descentlab are written out with typed signatures."""
    return type(name, (RuleOptimizer,), {"rule": rule, "__doc__": doc, "__module__": "descentlab.optim",
                                         "__qualname__": name})


__all__ = ["RuleOptimizer", "make_optimizer_class", "ParamsT", "UnknownHyperparameterError"]
