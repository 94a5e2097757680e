"""Optimizers whose rule torch.optim also has: each is proven equal to its torch counterpart in tests.

Each class's ``__init__`` is written out with torch 2.13's parameters (names, order, defaults, which are
keyword-only) so that IDEs and type checkers see them; our own additions (``fused`` where torch has none,
Keras's ε placements) come last and keyword-only. The body hands its arguments to :class:`RuleOptimizer`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from descentlab.optim.base import ParamsT, RuleOptimizer, given
from descentlab.optim.registry import Entry, register
from descentlab.rules import adadelta, adagrad, adam, adamax, nadam, radam, rmsprop, sgd

Betas = tuple[float | Tensor, float | Tensor]


class SGD(RuleOptimizer):
    __doc__ = sgd.__doc__
    rule = sgd.SGD

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float | Tensor = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class Adam(RuleOptimizer):
    __doc__ = adam.__doc__
    rule = adam.ADAM
    sparse_error = "Adam does not support sparse gradients, please consider SparseAdam instead"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False, eps_hat: bool = False) -> None:
        super().__init__(params, **given(locals()))


class AdamW(RuleOptimizer):
    __doc__ = adam.__doc__
    rule = adam.ADAMW
    sparse_error = "Adam does not support sparse gradients, please consider SparseAdam instead"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, eps_hat: bool = False, decoupled_weight_decay: bool = True) -> None:
        super().__init__(params, **given(locals()))

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # As torch.optim.AdamW: a state_dict saved by Adam (decoupled_weight_decay=False) loads as AdamW's.
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class Adagrad(RuleOptimizer):
    __doc__ = adagrad.__doc__
    rule = adagrad.ADAGRAD
    eager_state = True  # as torch.optim.Adagrad: every parameter's state exists from the constructor on

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None,
                 eps_inside_sqrt: bool = False) -> None:
        super().__init__(params, **given(locals()))


class RMSprop(RuleOptimizer):
    __doc__ = rmsprop.__doc__
    rule = rmsprop.RMSPROP
    sparse_error = "RMSprop does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False, *,
                 eps_inside_sqrt: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class Adadelta(RuleOptimizer):
    __doc__ = adadelta.__doc__
    rule = adadelta.ADADELTA
    sparse_error = "Adadelta does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class Adamax(RuleOptimizer):
    __doc__ = adamax.__doc__
    rule = adamax.ADAMAX
    sparse_error = "Adamax does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class NAdam(RuleOptimizer):
    __doc__ = nadam.__doc__
    rule = nadam.NADAM
    sparse_error = "NAdam does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


class RAdam(RuleOptimizer):
    __doc__ = radam.__doc__
    rule = radam.RADAM
    sparse_error = "RAdam does not support sparse gradients"

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, **given(locals()))


register(Entry("sgd", SGD, {}, "plain gradient descent"))
register(Entry("momentum", SGD, {"momentum": 0.9}, "heavy-ball momentum, μ = 0.9"))
register(Entry("nesterov", SGD, {"momentum": 0.9, "nesterov": True}, "Nesterov accelerated gradient, μ = 0.9"))
register(Entry("adam", Adam, {}, "Adam"))
register(Entry("amsgrad", Adam, {"amsgrad": True}, "Adam with AMSGrad"))
register(Entry("adamw", AdamW, {}, "Adam with decoupled weight decay"))
register(Entry("adagrad", Adagrad, {}, "Adagrad: steps shrink with each coordinate's summed squared gradients"))
register(Entry("rmsprop", RMSprop, {}, "RMSprop: gradient divided by the RMS of recent gradients"))
register(Entry("rmsprop-centered", RMSprop, {"centered": True}, "RMSprop divided by the gradient's running std"))
register(Entry("adadelta", Adadelta, {}, "Adadelta: RMSprop rescaled by the RMS of past updates"))
register(Entry("adamax", Adamax, {}, "Adamax: Adam with an infinity-norm second moment"))
register(Entry("nadam", NAdam, {}, "NAdam: Adam with Nesterov momentum"))
register(Entry("radam", RAdam, {}, "RAdam: Adam with a rectified, warmed-up adaptive step"))

__all__ = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam"]
