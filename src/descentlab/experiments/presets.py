"""Presets: named sets of defaults, stated rather than hidden.

A preset fixes, for every optimizer name, the hyperparameters it starts from, plus the weight initialisation and
batch size the recipe uses. Whatever the user passes on the command line overrides the preset, and every table and
report prints the *resolved* hyperparameters.

- ``torch``: PyTorch's defaults (``torch.optim`` constructors, ``nn.Linear``'s Kaiming-uniform initialisation).
  torch's SGD has no meaningful default learning rate (ours is 1e-3, as torch's signature); this preset uses it.
- ``keras``: the classic Keras recipe (Keras 3 ``keras.optimizers`` defaults, Glorot-uniform weights, zero
  biases, batch 32): SGD lr 0.01; Adam lr 1e-3, ε̂ = 1e-7 in Keras's form (ε added to the *uncorrected* root,
  the correction folded into the step size); RMSprop lr 1e-3, ρ = 0.9, ε = 1e-7 *inside* the square root;
  Adagrad initial accumulator 0.1; Adadelta lr 1e-3, ρ = 0.95.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from descentlab.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    init: str  # "torch" or "keras" weight initialisation
    batch_size: int | None  # None: the task's default
    hyper: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # optimizer name -> overrides
    description: str = ""

    def overrides(self, optimizer: str) -> dict[str, Any]:
        return dict(self.hyper.get(optimizer, {}))


_KERAS_ADAM = {"lr": 1e-3, "eps": 1e-7, "eps_hat": True}
PRESETS: dict[str, Preset] = {
    "torch": Preset("torch", init="torch", batch_size=None, description="PyTorch's defaults"),
    "keras": Preset(
        "keras",
        init="keras",
        batch_size=32,
        hyper={
            "sgd": {"lr": 0.01},
            "momentum": {"lr": 0.01},
            "nesterov": {"lr": 0.01},
            "adam": dict(_KERAS_ADAM),
            "amsgrad": dict(_KERAS_ADAM),
            "adamw": {**_KERAS_ADAM, "weight_decay": 0.004},
            "rmsprop": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "eps_inside_sqrt": True},
            "rmsprop-centered": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "eps_inside_sqrt": True},
            "adagrad": {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7},
            "adadelta": {"lr": 1e-3, "rho": 0.95, "eps": 1e-7},
            "adamax": {"lr": 1e-3, "eps": 1e-7},
        },
        description="Keras 3 defaults: optimizers, Glorot-uniform init, batch 32",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None
