"""Optimizers that torch.optim does not have (or has only recently): each proven equal to its authors' code.

- :class:`Lion` equals ``lion_pytorch.Lion``;
- :class:`SGDScheduleFree` and :class:`AdamWScheduleFree` equal ``schedulefree.SGDScheduleFree`` and
  ``schedulefree.AdamWScheduleFree`` (call ``optimizer.train()`` before training, ``optimizer.eval()`` before
  evaluating or checkpointing);
- :class:`Muon` equals ``torch.optim.Muon`` on the 2-D parameters and ``torch.optim.AdamW`` (``adamw_*``
  hyperparameters) on the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

import descentlab.optim.torch_family  # noqa: F401  (registered first, so the classics lead every list)
from descentlab.optim.base import ParamsT, RuleOptimizer, given
from descentlab.optim.registry import Entry, register
from descentlab.rules import lion, muon, schedule_free
from descentlab.rules.base import HyperparameterError


class ScheduleFreeOptimizer(RuleOptimizer):
    """A :class:`RuleOptimizer` that keeps the schedule-free group counters and switches between y and x.

    The counters ``k``, ``lr_max``, ``weight_sum``, ``scheduled_lr`` and the flag ``train_mode`` live in each
    param group under the reference's keys. ``step`` advances them once per group
    (:func:`descentlab.rules.schedule_free.advance`) and hands the rule the per-step values inside ``h``.
    """

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        for key, value in schedule_free.GROUP_STATE.items():
            param_group.setdefault(key, value)
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in schedule_free.GROUP_STATE.items():
                group.setdefault(key, value)

    @torch.no_grad()
    def train(self) -> None:
        """Parameters to y, the point where gradients are taken. Call before training."""
        self._switch(to_train=True)

    @torch.no_grad()
    def eval(self) -> None:
        """Parameters to x, the averaged point. Call before evaluating or saving a checkpoint."""
        self._switch(to_train=False)

    def _switch(self, to_train: bool) -> None:
        move = schedule_free.to_y if to_train else schedule_free.to_x
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            h = self.hyperparameters(group)
            for p in group["params"]:
                s = self.state.get(p)  # not state[p]: that would leave an empty entry
                if s and "z" in s:
                    move(p, s, h)
            group["train_mode"] = to_train

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{self.rule.name}: step() called in eval mode; call optimizer.train() before "
                               "training and optimizer.eval() before evaluating")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            h = self.hyperparameters(group)
            k = group["k"]
            now = schedule_free.advance(h, k, group["lr_max"], group["weight_sum"])
            group.update(k=k + 1, lr_max=now.lr_max, weight_sum=now.weight_sum, scheduled_lr=now.scheduled_lr)
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue  # a group without gradients (or without parameters) still counts the step, as the reference
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError(f"{self.rule.name} does not support sparse gradients")
                if not self.state[p]:
                    self.state[p].update(self.rule.init_state(p, h))
            step_h = {**h, "k": k, "scheduled_lr": now.scheduled_lr, "ckp1": now.ckp1}
            self._apply(group, params, [p.grad for p in params], [self.state[p] for p in params], step_h)
        return loss


class Lion(RuleOptimizer):
    __doc__ = lion.__doc__
    rule = lion.LION

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class SGDScheduleFree(ScheduleFreeOptimizer):
    __doc__ = schedule_free.__doc__
    rule = schedule_free.SGD_SCHEDULE_FREE

    def __init__(self, params: ParamsT, lr: float | Tensor = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0,
                 foreach: bool | None = None, *, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class AdamWScheduleFree(ScheduleFreeOptimizer):
    __doc__ = schedule_free.__doc__
    rule = schedule_free.ADAMW_SCHEDULE_FREE

    def __init__(self, params: ParamsT, lr: float | Tensor = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, foreach: bool | None = None, *, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class Muon(RuleOptimizer):
    __doc__ = muon.__doc__
    rule = muon.MUON_WITH_ADAMW
    sparse_error = "Muon does not support sparse gradients"
    complex_error = "Muon does not support complex parameters"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None, *,
                 ns_dtype: torch.dtype | None = torch.bfloat16, adamw_lr: float = 3e-4,
                 adamw_betas: tuple[float, float] = (0.9, 0.95), adamw_eps: float = 1e-10,
                 adamw_weight_decay: float = 0.0, use_muon: bool | None = None, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # Keller Jordan's MuonWithAuxAdam gives a use_muon=False group its Adam's lr, betas, eps and weight_decay;
        # here those would be Muon's (unused by that group) or no hyperparameter at all, silently ignored. A group
        # that names any adamw_* key (one written for this class, or copied whole from its param_groups) is ours.
        adamw_only = param_group.get("use_muon") is False and not any(k in param_group for k in muon.ADAMW_KEYS)
        for key in ("lr", "betas", "eps", "weight_decay"):
            if key in param_group and (key == "betas" or adamw_only):
                raise HyperparameterError(
                    f"muon: invalid group key {key}={param_group[key]!r}"
                    f"{' in a use_muon=False group' if key != 'betas' else ''}; allowed: adamw_{key} "
                    "(the AdamW half's keys: adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay)")
        super().add_param_group(param_group)

    def _kernel(self, group: dict[str, Any], params: list[Tensor]) -> Callable[..., bool] | None:
        # The AdamW half through torch's fused AdamW kernel, the matrices through the Muon rule.
        return muon.fused_with_adamw

    def _apply(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
               h: dict[str, Any]) -> None:
        """As the authors' Muon, a 4-D (convolution) filter ``[out, in, kh, kw]`` given to Muon
        (``use_muon=True``) is the matrix ``[out, in·kh·kw]``: the rule sees it, its gradient and its momentum
        buffer reshaped (the buffer stays stored in the parameter's shape). Without this the rule would take the
        leading dimensions as a stack and orthogonalize every ``kh × kw`` kernel on its own."""
        flat = [i for i, p in enumerate(params) if p.ndim == 4 and muon.uses_muon(p, h)]
        if not flat:
            super()._apply(group, params, grads, states, h)
            return
        params, grads, states = list(params), list(grads), list(states)
        copies: list[tuple[Tensor, Tensor]] = []  # (tensor, its reshaped copy) where no view exists

        def matrix(t: Tensor) -> Tensor:
            m = t.reshape(t.shape[0], -1)  # a view when t is contiguous: the rule's in-place updates move t
            if m.data_ptr() != t.data_ptr() or not t.is_contiguous():  # e.g. channels_last filters
                copies.append((t, m))
            return m

        for i in flat:
            shape = params[i].shape
            params[i], grads[i] = matrix(params[i]), grads[i].reshape(shape[0], -1)
            states[i] = {k: matrix(v) if torch.is_tensor(v) and v.shape == shape else v for k, v in states[i].items()}
        super()._apply(group, params, grads, states, h)
        for t, m in copies:
            t.copy_(m.view(t.shape))

register(Entry("lion", Lion, {}, "Lion: sign of interpolated momentum (use a 3–10× smaller lr than AdamW)"))
register(Entry("sgd-schedulefree", SGDScheduleFree, {}, "schedule-free SGD (call train()/eval())"))
register(Entry("adamw-schedulefree", AdamWScheduleFree, {}, "schedule-free AdamW (call train()/eval())"))
register(Entry("muon", Muon, {}, "Muon on 2-D parameters, AdamW on the others"))

__all__ = ["Lion", "SGDScheduleFree", "AdamWScheduleFree", "Muon", "ScheduleFreeOptimizer"]

