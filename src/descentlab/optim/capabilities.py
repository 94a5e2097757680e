"""What a front-end may ask of an optimizer object, read from what its rule declares.

The optimizer classes, the trainers and the tracer all ask here instead of inspecting code. An optimizer that
is not a descentlab rule (a ``torch.optim`` class, a user's own) cannot declare anything to us; for it the
conventions of the ecosystem are read instead, and each function says which.
"""

from __future__ import annotations

import inspect

import torch

from descentlab.rules.base import Rule


def rule_of(opt: torch.optim.Optimizer | type) -> Rule | None:
    """The descentlab rule behind an optimizer (instance or class), or ``None`` for any other optimizer."""
    rule = getattr(opt if isinstance(opt, type) else type(opt), "rule", None)
    return rule if isinstance(rule, Rule) else None


def averaged_iterate(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` takes gradients at one point and is evaluated at another, switched by ``train()`` and
    ``eval()`` (schedule-free). Declared by a rule (``Rule.averaged_iterate``); for other optimizers, the
    ``schedulefree`` package's convention: callable ``train`` and ``eval`` methods."""
    rule = rule_of(opt)
    if rule is not None:
        return rule.averaged_iterate
    return callable(getattr(opt, "train", None)) and callable(getattr(opt, "eval", None))


def takes_closure(opt: torch.optim.Optimizer) -> bool:
    """Whether a trainer hands ``opt.step`` a closure that re-evaluates the batch's loss and gradients. A rule
    never needs one. Any other optimizer gets one when its ``step`` has a ``closure`` parameter, torch's
    convention: ``torch.optim.LBFGS`` requires it (no default), SAM-style optimizers call it to take the gradient
    at a perturbed point (often declared ``closure=None`` but needed), and the others call it at most once, at
    the weights the trainer already evaluated (see :class:`descentlab.train.loop.Reevaluate`: that call costs
    nothing)."""
    if rule_of(opt) is not None:
        return False
    try:
        return "closure" in inspect.signature(opt.step).parameters
    except (TypeError, ValueError):  # a step without a readable signature: call it as torch's Adam is called
        return False
