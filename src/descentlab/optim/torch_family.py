"""Optimizers whose rule torch.optim also has: each is proven equal to its torch counterpart in tests."""

from __future__ import annotations

from descentlab.optim.base import make_optimizer_class
from descentlab.optim.registry import Entry, register
from descentlab.rules import adam, sgd

SGD = make_optimizer_class("SGD", sgd.SGD, sgd.__doc__ or "")
Adam = make_optimizer_class("Adam", adam.ADAM, adam.__doc__ or "")
AdamW = make_optimizer_class("AdamW", adam.ADAMW, adam.__doc__ or "")

register(Entry("sgd", SGD, {}, "plain gradient descent"))
register(Entry("momentum", SGD, {"momentum": 0.9}, "heavy-ball momentum, μ = 0.9"))
register(Entry("nesterov", SGD, {"momentum": 0.9, "nesterov": True}, "Nesterov accelerated gradient, μ = 0.9"))
register(Entry("adam", Adam, {}, "Adam"))
register(Entry("amsgrad", Adam, {"amsgrad": True}, "Adam with AMSGrad"))
register(Entry("adamw", AdamW, {}, "Adam with decoupled weight decay"))

__all__ = ["SGD", "Adam", "AdamW"]
