"""Optimizers whose rule torch.optim also has: each is proven equal to its torch counterpart in tests."""

from __future__ import annotations

from descentlab.optim.base import make_optimizer_class
from descentlab.optim.registry import Entry, register
from descentlab.rules import adadelta, adagrad, adam, adamax, nadam, radam, rmsprop, sgd

SGD = make_optimizer_class("SGD", sgd.SGD, sgd.__doc__ or "")
Adam = make_optimizer_class("Adam", adam.ADAM, adam.__doc__ or "")
AdamW = make_optimizer_class("AdamW", adam.ADAMW, adam.__doc__ or "")
Adagrad = make_optimizer_class("Adagrad", adagrad.ADAGRAD, adagrad.__doc__ or "")
RMSprop = make_optimizer_class("RMSprop", rmsprop.RMSPROP, rmsprop.__doc__ or "")
Adadelta = make_optimizer_class("Adadelta", adadelta.ADADELTA, adadelta.__doc__ or "")
Adamax = make_optimizer_class("Adamax", adamax.ADAMAX, adamax.__doc__ or "")
NAdam = make_optimizer_class("NAdam", nadam.NADAM, nadam.__doc__ or "")
RAdam = make_optimizer_class("RAdam", radam.RADAM, radam.__doc__ or "")

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
