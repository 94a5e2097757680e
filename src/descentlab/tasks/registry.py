"""Tasks: a dataset, a model, a loss, a metric, a default budget and a target — everything but the optimizer.

Targets are validation accuracies that Adam with its defaults (lr = 1e-3) reaches within the default budget
here (see each task's description); time-to-target is measured against them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from descentlab.errors import UserError
from descentlab.registry import Registry, dashed
from descentlab.tasks import models


def mse(out: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error averaged over each example's outputs, then reduced over the examples (``"mean"``,
    ``"sum"`` or ``"none"``: one value per example). With one output per example it is ``F.mse_loss``; with
    D outputs the mean loss is still ``F.mse_loss``'s, and ``"sum"`` sums the examples' means, so that a sum
    divided by the number of examples is the mean (what evaluation relies on)."""
    diff = (out - target.reshape(out.shape)).reshape(out.shape[0], -1)
    per_example = (diff * diff).mean(1)
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


LOSSES: dict[str, Callable[..., Tensor]] = {"cross_entropy": F.cross_entropy, "mse": mse}
"""Mean loss of ``(outputs, targets)``; each must also accept ``reduction="sum"`` (used by evaluation) and
``reduction="none"`` (one loss per example, used by the vectorized trainer)."""
METRICS = ("accuracy", "loss")
"""``accuracy``: the share of examples whose largest output is the label (classification); ``loss``: the loss is
the metric (regression), records hold ``None`` for the accuracies and time to target is the first epoch whose
validation loss is at or below ``target_val_loss``."""


@dataclass(frozen=True)
class Task:
    """One benchmark problem. ``architecture()`` builds the network; use :meth:`build_model` for a seeded one."""

    name: str
    dataset: str
    architecture: Callable[[], nn.Module]
    default_epochs: int
    default_batch_size: int | str
    target_val_acc: float | None
    description: str = ""
    loss: str = "cross_entropy"
    metric: str = "accuracy"
    target_val_loss: float | None = None  # for metric "loss": time to target is the first val loss at or below

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise UserError(f"task {self.name!r}: unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.metric not in METRICS:
            raise UserError(f"task {self.name!r}: unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")

    def build_model(self, seed: int, init: str = "torch") -> nn.Module:
        """The network with weights drawn from ``seed`` (``init``: ``"torch"`` or ``"keras"``)."""
        return models.build(self.architecture, seed, init)

    @property
    def loss_fn(self) -> Callable[[Tensor, Tensor], Tensor]:
        return LOSSES[self.loss]

    def load(self, **options: Any):
        """The task's data: :func:`descentlab.data.load_dataset` of :attr:`dataset` with ``options``."""
        from descentlab.data import load_dataset  # deferred: building a model needs no data

        return load_dataset(self.dataset, **options)


TASKS: Registry[Task] = Registry("task", normalize=dashed)


def register(task: Task, *, source: str = "built-in") -> Task:
    return TASKS.register(task.name, task, source=source)




def get_task(name: str) -> Task:
    """The Task registered as ``name`` (``_`` reads as ``-``; UserError listing the valid names); a reference to
    user code or data (``file.py:name``, ``module:name``, an ``.npz`` / ``.csv`` file) is resolved by
    :mod:`descentlab.tasks.external` and registered under its name."""
    from descentlab.tasks import external  # deferred: it imports this module

    if external.is_reference(name):
        return external.resolve(name)
    load_plugins()
    return TASKS.get(name)


def names() -> list[str]:
    """The registered task names (built-ins, then plugins, then tasks registered at run time), in order."""
    load_plugins()
    return TASKS.names()


task_names = names


_plugins_loaded = False
PLUGIN_FINGERPRINTS: dict[str, str] = {}  # task name -> its distribution's fingerprint


def load_plugins() -> None:
    """Register the tasks that installed packages declare under the entry-point group ``descentlab.tasks`` (once
    per process): a :class:`Task`, or a function returning one. A plugin that fails is one line naming it."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from descentlab import plugins

    def made(obj: Any) -> Task:
        task = obj if isinstance(obj, Task) else obj()
        if not isinstance(task, Task):
            raise UserError(f"gave a {type(task).__name__}, not a descentlab Task")
        return task

    for _, task, source, fingerprint in plugins.load(plugins.TASKS, "task", made):
        register(task, source=source)
        PLUGIN_FINGERPRINTS[task.name] = fingerprint


def fingerprint_of(task: Task) -> str | None:
    """What identifies the code of a task that is not descentlab's: a user task's own fingerprint, or a plugin's
    distribution; ``None`` for a built-in."""
    return getattr(task, "fingerprint", None) or PLUGIN_FINGERPRINTS.get(task.name)


register(Task(
    "mnist-mlp", "mnist", partial(models.mlp, 784, 128, 10), 5, 32, 0.97,
    "MNIST, Flatten → Linear(784,128) → ReLU → Linear(128,10): the classic Keras/TensorFlow beginner network "
    "(≈ 0.97–0.98 after 5 epochs of Adam)."))
register(Task(
    "fashion-mlp", "fashion-mnist", partial(models.mlp, 784, 128, 10), 5, 32, 0.85,
    "Fashion-MNIST, the same 784-128-10 network as mnist-mlp. Adam lr 1e-3: val 0.846, 0.861, 0.869, 0.871, "
    "0.875 after epochs 1–5."))
register(Task(
    "mnist1d-mlp", "mnist1d", models.ResidualMLP, 100, 100, 0.55,
    "MNIST-1D (Greydanus 2020), the paper's MLPBase: 40 → 100 → (+ residual 100) → 10, ReLU. Adam lr 1e-3 "
    "reaches val 0.55 in 20–40 epochs (seeds 0–2), then overfits (0.55–0.60); with the paper's lr 1e-2, 0.60 in ≈ 40."))
register(Task(
    "mnist1d-cnn", "mnist1d", models.mnist1d_cnn, 100, 100, 0.75,
    "MNIST-1D (Greydanus 2020), the paper's ConvBase: Conv1d 25 ch (k 5, 3, 3; stride 2, pad 1) → Linear(125, 10). "
    "Adam lr 1e-3 reaches val 0.75 in 50–70 epochs (seeds 0–2; 0.80 in 60–100); with the paper's lr 1e-2, "
    "0.90 in ≈ 20 and 0.94 by 50."))
register(Task(
    "mnist-logreg", "mnist", partial(models.mlp, 784, 10), 5, 128, 0.92,
    "MNIST, multinomial logistic regression 784 → 10, minibatch 128: the experiment of the Adam paper, §6.1."))
register(Task(
    "fashion-cnn", "fashion-mnist", models.small_cnn, 3, 64, 0.88,
    "Fashion-MNIST, Conv3×3(32) → pool → Conv3×3(64) → pool → Linear(1600,128) → Linear(128,10)."))
register(Task(
    "digits-mlp", "digits", partial(models.mlp, 64, 64, 10), 30, 32, 0.95,
    "scikit-learn digits (8×8), MLP 64 → 64 → 10. Adam lr 1e-3 reaches val 0.95 in ≈ 18 epochs."))
