"""The ``torch.optim.Optimizer`` front-end over a rule.

All bookkeeping lives here (parameter groups, lazily created per-parameter state under torch's keys,
closures, ``state_dict``); all math lives in the rule. Being a real ``torch.optim.Optimizer`` subclass is what
lets LR schedulers, ``GradScaler``, DDP/FSDP and checkpoint code work unchanged with our optimizers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
import torch.autograd.profiler as _profiler
import torch.optim.optimizer as _torch_optimizer
from torch import Tensor

from descentlab.rules.base import HyperparameterError, Rule

# Group keys that torch.optim writes; accepted (and ignored) so that state_dicts cross-load both ways.
TORCH_GROUP_KEYS = ("foreach", "capturable", "differentiable", "fused")
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` applies ``rule`` to every parameter with a gradient.

    ``fused``: ``None`` (default) uses the rule's fused kernel when it has one and the group allows it
    (Python-number hyperparameters, real floating-point parameters on one device); ``True`` requires it;
    ``False`` always runs the readable per-tensor rule. Both paths are tested equal.
    """

    rule: ClassVar[Rule]

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], *args: Any,
                 fused: bool | None = None, **hyper: Any) -> None:
        names = list(self.rule.defaults)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional hyperparameters "
                            f"({', '.join(names)}), got {len(args)}")
        for name, value in zip(names, args):
            if name in hyper:
                raise TypeError(f"{type(self).__name__} got multiple values for {name!r}")
            hyper[name] = value
        for key in ("foreach", "capturable", "differentiable"):
            if hyper.pop(key, None):
                raise HyperparameterError(f"{self.rule.name}: {key}=True is not supported; allowed: False or None")
        defaults = self.rule.resolve(hyper)
        if fused not in (None, True, False):
            raise HyperparameterError(f"{self.rule.name}: invalid fused={fused!r}; allowed: None, True or False")
        if fused and self.rule.fused is None:
            raise HyperparameterError(f"{self.rule.name}: fused=True is not available for this rule; "
                                      "allowed: None or False")
        defaults["fused"] = fused
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Validate the group's own hyperparameters (merged with the defaults) before torch stores it.
        merged = {k: param_group.get(k, v) for k, v in self.defaults.items() if k in self.rule.defaults}
        self.rule.validate(merged)
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # A state_dict saved by torch.optim (or an older descentlab) may lack some of our keys.
        for group in self.param_groups:
            for key, value in self.rule.defaults.items():
                group.setdefault(key, value)
            group.setdefault("fused", None)

    def hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        return {k: group[k] for k in self.rule.defaults}

    @_hooked
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        state, rule = self.state, self.rule
        for group in self.param_groups:
            params, grads = [], []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    if g.is_sparse:
                        raise RuntimeError(f"{rule.name} does not support sparse gradients")
                    params.append(p)
                    grads.append(g)
            if not params:
                continue
            h = self.hyperparameters(group)
            states = []
            for p in params:
                s = state[p]
                if not s:
                    s.update(rule.init_state(p, h))
                states.append(s)
            if self._may_fuse(group, h):
                parts = _by_device_and_dtype(params)
                for (device, dtype), idx in parts.items():
                    ps, gs, ss = ((params, grads, states) if len(parts) == 1 else
                                  ([params[i] for i in idx], [grads[i] for i in idx], [states[i] for i in idx]))
                    if not (self._fusable(group, device, dtype, ps, gs) and rule.fused(ps, gs, ss, h)):
                        self._per_tensor(ps, ss, h)
            else:
                self._per_tensor(params, states, h)
        return loss

    def _per_tensor(self, params: list[Tensor], states: list[dict[str, Any]], h: dict[str, Any]) -> None:
        for p, state in zip(params, states):
            if torch.is_complex(p):
                # As torch.optim: complex parameters are optimized as pairs of reals.
                p, g = torch.view_as_real(p), torch.view_as_real(p.grad)
                state = {k: torch.view_as_real(v) if torch.is_tensor(v) and torch.is_complex(v) else v
                         for k, v in state.items()}
                self.rule.update(p, g, state, h)
            else:
                self.rule.update(p, p.grad, state, h)

    def _may_fuse(self, group: dict[str, Any], h: dict[str, Any]) -> bool:
        """Whether the group may take the fused path at all: a fused rule, not refused, number hyperparameters."""
        if self.rule.fused is None or group.get("fused") is False:
            return False
        if _has_tensor(h):
            if group.get("fused"):
                raise RuntimeError(f"{self.rule.name}: fused=True needs Python-number hyperparameters")
            return False
        return True

    def _fusable(self, group: dict[str, Any], device: torch.device, dtype: torch.dtype, params: list[Tensor],
                 grads: list[Tensor]) -> bool:
        # torch's CPU fused kernels read a non-contiguous gradient in memory order, silently giving wrong
        # results (seen with transposed gradients), so only contiguous tensors take the fused path.
        ok = (dtype in _FUSED_DTYPES and device.type in ("cpu", "cuda")
              and all(p.is_contiguous() and g.is_contiguous() for p, g in zip(params, grads)))
        if group.get("fused") and not ok:
            raise RuntimeError(f"{self.rule.name}: fused=True needs contiguous real floating-point parameters and "
                               "gradients on CPU or CUDA")
        return ok


def _has_tensor(h: dict[str, Any]) -> bool:
    """Whether any hyperparameter (or any member of a tuple of them, like ``betas``) is a tensor."""
    for v in h.values():
        if isinstance(v, Tensor) or (isinstance(v, (tuple, list)) and any(isinstance(x, Tensor) for x in v)):
            return True
    return False


def _by_device_and_dtype(params: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[int]]:
    first = params[0]
    key = (first.device, first.dtype)
    if all(p.device == key[0] and p.dtype == key[1] for p in params):  # the usual case, found without a dict
        return {key: list(range(len(params)))}
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, p in enumerate(params):
        groups.setdefault((p.device, p.dtype), []).append(i)
    return groups


def make_optimizer_class(name: str, rule: Rule, doc: str) -> type[RuleOptimizer]:
    """A named subclass whose signature lists the rule's hyperparameters (for ``help()`` and IDEs)."""
    def __init__(self: RuleOptimizer, params: Any, *args: Any, **kwargs: Any) -> None:
        RuleOptimizer.__init__(self, params, *args, **kwargs)

    cls = type(name, (RuleOptimizer,), {"rule": rule, "__doc__": doc, "__module__": "descentlab.optim",
                                        "__init__": __init__, "__qualname__": name})
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params += [inspect.Parameter(k, kind, default=v) for k, v in rule.defaults.items()]
    params.append(inspect.Parameter("fused", inspect.Parameter.KEYWORD_ONLY, default=None))
    __init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return cls
