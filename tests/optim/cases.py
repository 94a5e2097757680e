"""The one table of optimizer cases that drives the equivalence tests.

Each case: our class, the reference class (torch.optim or the authors' package), and hyperparameters for two
parameter groups (the second group overrides some of them). Add a row for every flag combination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from descentlab import optim


@dataclass(frozen=True)
class Case:
    id: str
    ours: type[torch.optim.Optimizer]
    reference: type[torch.optim.Optimizer]
    hyper: dict[str, Any]
    group2: dict[str, Any] = field(default_factory=dict)  # overrides for the second parameter group
    # state keys that the reference keeps under another name or not at all: ours -> reference (None: skip)
    state_map: dict[str, str | None] = field(default_factory=dict)
    reference_only: tuple[str, ...] = ()  # state keys only the reference keeps (not compared)
    steps: int = 100

    def __str__(self) -> str:
        return self.id


CASES: list[Case] = [
    Case("sgd", optim.SGD, torch.optim.SGD, {"lr": 0.05}, {"lr": 0.02}),
    Case("sgd-wd", optim.SGD, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.01}, {"weight_decay": 0.1}),
    Case("sgd-momentum", optim.SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}, {"momentum": 0.5}),
    Case("sgd-momentum-dampening", optim.SGD, torch.optim.SGD,
         {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}, {"dampening": 0.0}),
    Case("sgd-nesterov", optim.SGD, torch.optim.SGD,
         {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, {"lr": 0.01, "momentum": 0.8}),
    Case("sgd-maximize", optim.SGD, torch.optim.SGD,
         {"lr": 0.01, "momentum": 0.9, "maximize": True}, {"weight_decay": 0.01}),
    Case("adam", optim.Adam, torch.optim.Adam, {"lr": 1e-2}, {"lr": 3e-3, "betas": (0.8, 0.99)}),
    Case("adam-wd-amsgrad", optim.Adam, torch.optim.Adam,
         {"lr": 1e-2, "weight_decay": 0.01, "amsgrad": True}, {"eps": 1e-6}),
    Case("adam-maximize", optim.Adam, torch.optim.Adam,
         {"lr": 1e-3, "maximize": True, "weight_decay": 0.01}, {"amsgrad": True}),
    Case("adam-decoupled", optim.Adam, torch.optim.Adam,
         {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"weight_decay": 0.0}),
    Case("adamw", optim.AdamW, torch.optim.AdamW, {"lr": 1e-2}, {"weight_decay": 0.1}),
    Case("adamw-amsgrad", optim.AdamW, torch.optim.AdamW,
         {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.05}, {"lr": 1e-3}),
    Case("adagrad", optim.Adagrad, torch.optim.Adagrad, {"lr": 0.05}, {"lr": 0.02}),
    Case("adagrad-lr-decay", optim.Adagrad, torch.optim.Adagrad, {"lr": 0.05, "lr_decay": 0.01}, {"lr_decay": 0.1}),
    # group2 never overrides initial_accumulator_value: torch.optim.Adagrad ignores a group's own value.
    Case("adagrad-init-wd", optim.Adagrad, torch.optim.Adagrad,
         {"lr": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.01}, {"weight_decay": 0.1, "eps": 1e-6}),
    Case("adagrad-maximize", optim.Adagrad, torch.optim.Adagrad,
         {"lr": 0.01, "maximize": True, "weight_decay": 0.01}, {"lr_decay": 0.05}),
    Case("rmsprop", optim.RMSprop, torch.optim.RMSprop, {"lr": 1e-2}, {"lr": 3e-3, "alpha": 0.9}),
    Case("rmsprop-centered", optim.RMSprop, torch.optim.RMSprop, {"lr": 1e-2, "centered": True}, {"alpha": 0.95}),
    Case("rmsprop-momentum", optim.RMSprop, torch.optim.RMSprop, {"lr": 1e-2, "momentum": 0.9}, {"momentum": 0.5}),
    Case("rmsprop-centered-momentum-wd", optim.RMSprop, torch.optim.RMSprop,
         {"lr": 1e-2, "centered": True, "momentum": 0.9, "weight_decay": 0.01}, {"momentum": 0.0, "eps": 1e-6}),
    Case("rmsprop-maximize", optim.RMSprop, torch.optim.RMSprop,
         {"lr": 1e-3, "maximize": True, "momentum": 0.5}, {"centered": True, "weight_decay": 0.01}),
    Case("adadelta", optim.Adadelta, torch.optim.Adadelta, {"lr": 1.0}, {"rho": 0.95}),
    Case("adadelta-wd-maximize", optim.Adadelta, torch.optim.Adadelta,
         {"lr": 0.5, "weight_decay": 0.01, "maximize": True}, {"eps": 1e-5, "lr": 1.0}),
    Case("adamax", optim.Adamax, torch.optim.Adamax, {"lr": 1e-2}, {"betas": (0.8, 0.99)}),
    Case("adamax-wd-maximize", optim.Adamax, torch.optim.Adamax,
         {"lr": 1e-2, "weight_decay": 0.01, "maximize": True}, {"eps": 1e-6}),
    Case("nadam", optim.NAdam, torch.optim.NAdam, {"lr": 1e-2}, {"momentum_decay": 1e-2}),
    Case("nadam-wd", optim.NAdam, torch.optim.NAdam, {"lr": 1e-2, "weight_decay": 0.01}, {"betas": (0.8, 0.99)}),
    Case("nadam-decoupled", optim.NAdam, torch.optim.NAdam,
         {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"momentum_decay": 0.0}),
    Case("nadam-maximize", optim.NAdam, torch.optim.NAdam,
         {"lr": 1e-3, "maximize": True, "momentum_decay": 8e-3}, {"weight_decay": 0.01}),
    Case("radam", optim.RAdam, torch.optim.RAdam, {"lr": 1e-2}, {"betas": (0.9, 0.99)}),
    Case("radam-wd", optim.RAdam, torch.optim.RAdam, {"lr": 1e-2, "weight_decay": 0.01}, {"eps": 1e-6}),
    Case("radam-decoupled", optim.RAdam, torch.optim.RAdam,
         {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"lr": 3e-3}),
    Case("radam-maximize", optim.RAdam, torch.optim.RAdam,
         {"lr": 1e-3, "maximize": True, "betas": (0.8, 0.99)}, {"weight_decay": 0.01}),
]
