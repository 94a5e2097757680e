"""An optimizer of your own, as most people write one: a ``torch.optim.Optimizer`` subclass.

descentlab takes it as it is, wherever it takes an optimizer name::

    descentlab compare --task digits-mlp \\
        --optimizers 'adam,sgd(lr=0.1,momentum=0.9),examples/my_optimizer.py:SignSGD(lr=0.01)'

Its hyperparameters are its constructor's keyword arguments (defaults read from the signature). It trains one
run at a time; see ``examples/signum_rule.py`` for the same idea written as a descentlab rule, which is proven,
listed and vectorized like the built-ins.
"""

from __future__ import annotations

import torch


class SignSGD(torch.optim.Optimizer):
    """Sign descent (Bernstein et al. 2018, signSGD): ``p ← p − lr · sign(g)``, with L2 weight decay."""

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                p.add_(g.sign(), alpha=-group["lr"])
        return loss
