"""Training: one configuration at a time (:func:`train`), reporting through :class:`Callback` hooks.

>>> from descentlab.train import RunConfig, train
>>> result = train(RunConfig.build("mnist1d-mlp", "adam", {"lr": 1e-3}, seed=0))   # doctest: +SKIP
>>> result.status, result.epochs[-1]["val_acc"], result.time_to_target             # doctest: +SKIP
"""

from descentlab.train.callbacks import Callback
from descentlab.train.config import RunConfig, describe_schedule
from descentlab.train.loop import RunResult, epoch_generator, evaluate, state_bytes, train

__all__ = ["Callback", "RunConfig", "RunResult", "describe_schedule", "epoch_generator", "evaluate", "state_bytes",
           "train"]
