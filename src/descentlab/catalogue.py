"""What can be named on the command line, declared without importing torch: the built-in optimizers, tasks,
datasets and 2-D test functions with what ``descentlab list`` shows of them, and the names plugins declare.

The registries (:mod:`descentlab.optim`, :mod:`descentlab.tasks`, :mod:`descentlab.data`,
:mod:`descentlab.tasks.functions`) hold the objects and stay what runs; this module is what the command line reads
before it needs them, so that ``--help``, ``descentlab list``, shell completion and a misspelt name answer without
starting torch. ``tests/test_catalogue.py`` checks that every declaration here equals its registry's entry (names
in order, and each column), so the two cannot drift apart: a new built-in is registered where it lives and
declared here in one line. Schedules need no declaration: their registry imports no torch.

Plugins are read from their entry points' metadata (name and ``module:object``) without importing them; their
objects load when a command uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from descentlab import plugins
from descentlab.registry import dashed, lower, unknown


@dataclass(frozen=True)
class Optimizer:
    """A built-in optimizer: registry name, ``module.Class``, the hyperparameters the name implies, one line."""

    name: str
    cls: str
    implied: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class Task:
    """A built-in task: its dataset, default epochs and batch size, target validation accuracy, description."""

    name: str
    dataset: str
    epochs: int
    batch_size: int | str
    target_val_acc: float | None
    description: str


@dataclass(frozen=True)
class Named:
    """A built-in dataset (``dim`` None) or test function (``dim`` its dimension) and its description."""

    name: str
    description: str
    dim: int | None = None


_TORCH, _BEYOND = "descentlab.optim.torch_family", "descentlab.optim.beyond_torch"
OPTIMIZERS: tuple[Optimizer, ...] = (
    Optimizer("sgd", f"{_TORCH}.SGD", {}, "plain gradient descent"),
    Optimizer("momentum", f"{_TORCH}.SGD", {"momentum": 0.9}, "heavy-ball momentum, μ = 0.9"),
    Optimizer("nesterov", f"{_TORCH}.SGD", {"momentum": 0.9, "nesterov": True},
              "Nesterov accelerated gradient, μ = 0.9"),
    Optimizer("adam", f"{_TORCH}.Adam", {}, "Adam"),
    Optimizer("amsgrad", f"{_TORCH}.Adam", {"amsgrad": True}, "Adam with AMSGrad"),
    Optimizer("adamw", f"{_TORCH}.AdamW", {}, "Adam with decoupled weight decay"),
    Optimizer("adagrad", f"{_TORCH}.Adagrad", {},
              "Adagrad: steps shrink with each coordinate's summed squared gradients"),
    Optimizer("rmsprop", f"{_TORCH}.RMSprop", {}, "RMSprop: gradient divided by the RMS of recent gradients"),
    Optimizer("rmsprop-centered", f"{_TORCH}.RMSprop", {"centered": True},
              "RMSprop divided by the gradient's running std"),
    Optimizer("adadelta", f"{_TORCH}.Adadelta", {}, "Adadelta: RMSprop rescaled by the RMS of past updates"),
    Optimizer("adamax", f"{_TORCH}.Adamax", {}, "Adamax: Adam with an infinity-norm second moment"),
    Optimizer("nadam", f"{_TORCH}.NAdam", {}, "NAdam: Adam with Nesterov momentum"),
    Optimizer("radam", f"{_TORCH}.RAdam", {}, "RAdam: Adam with a rectified, warmed-up adaptive step"),
    Optimizer("lion", f"{_BEYOND}.Lion", {}, "Lion: sign of interpolated momentum (use a 3–10× smaller lr than AdamW)"),
    Optimizer("sgd-schedulefree", f"{_BEYOND}.SGDScheduleFree", {}, "schedule-free SGD (call train()/eval())"),
    Optimizer("adamw-schedulefree", f"{_BEYOND}.AdamWScheduleFree", {}, "schedule-free AdamW (call train()/eval())"),
    Optimizer("muon", f"{_BEYOND}.Muon", {}, "Muon on 2-D parameters, AdamW on the others"),
)

TASKS: tuple[Task, ...] = (
    Task("mnist-mlp", "mnist", 5, 32, 0.97,
         "MNIST, Flatten → Linear(784,128) → ReLU → Linear(128,10): the classic Keras/TensorFlow beginner network "
         "(≈ 0.97–0.98 after 5 epochs of Adam)."),
    Task("fashion-mlp", "fashion-mnist", 5, 32, 0.85,
         "Fashion-MNIST, the same 784-128-10 network as mnist-mlp. Adam lr 1e-3: val 0.846, 0.861, 0.869, 0.871, "
         "0.875 after epochs 1–5."),
    Task("mnist1d-mlp", "mnist1d", 100, 100, 0.55,
         "MNIST-1D (Greydanus 2020), the paper's MLPBase: 40 → 100 → (+ residual 100) → 10, ReLU. Adam lr 1e-3 "
         "reaches val 0.55 in 20–40 epochs (seeds 0–2), then overfits (0.55–0.60); with the paper's lr 1e-2, 0.60 "
         "in ≈ 40."),
    Task("mnist1d-cnn", "mnist1d", 100, 100, 0.75,
         "MNIST-1D (Greydanus 2020), the paper's ConvBase: Conv1d 25 ch (k 5, 3, 3; stride 2, pad 1) → "
         "Linear(125, 10). Adam lr 1e-3 reaches val 0.75 in 50–70 epochs (seeds 0–2; 0.80 in 60–100); with the "
         "paper's lr 1e-2, 0.90 in ≈ 20 and 0.94 by 50."),
    Task("mnist-logreg", "mnist", 5, 128, 0.92,
         "MNIST, multinomial logistic regression 784 → 10, minibatch 128: the experiment of the Adam paper, §6.1."),
    Task("fashion-cnn", "fashion-mnist", 3, 64, 0.88,
         "Fashion-MNIST, Conv3×3(32) → pool → Conv3×3(64) → pool → Linear(1600,128) → Linear(128,10)."),
    Task("digits-mlp", "digits", 30, 32, 0.95,
         "scikit-learn digits (8×8), MLP 64 → 64 → 10. Adam lr 1e-3 reaches val 0.95 in ≈ 18 epochs."),
)

DATASETS: tuple[Named, ...] = (
    Named("mnist", "MNIST handwritten digits, 28×28"),
    Named("fashion-mnist", "Fashion-MNIST clothing, 28×28"),
    Named("mnist1d", "MNIST-1D (Greydanus 2020), 40-long signals"),
    Named("digits", "scikit-learn's 8×8 digits"),
)

FUNCTIONS: tuple[Named, ...] = (
    Named("square", "f(x) = x², the tutorial's first example", 1),
    Named("quadratic", "0.5 (x² + 25 y²): a narrow valley, condition number 25", 2),
    Named("rosenbrock", "(1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley", 2),
    Named("beale", "Beale: flat plateaus and steep ridges, minimum at (3, 0.5)", 2),
    Named("himmelblau", "Himmelblau: four minima of equal depth", 2),
    Named("saddle", "x² − y²: starts next to a saddle point; unbounded below", 2),
    Named("rastrigin", "Rastrigin: a bowl covered in local minima", 2),
)


@dataclass(frozen=True)
class Plugin:
    """A plugin's entry point as its metadata declares it: ``name``, ``value`` (``module:object``), ``source``."""

    name: str
    value: str
    source: str


def plugin_entries(group: str) -> list[Plugin]:
    """The entry points of ``group`` (:data:`descentlab.plugins.OPTIMIZERS` or ``TASKS``), none imported."""
    return [Plugin(ep.name, ep.value, plugins.source_of(ep)[0]) for ep in plugins.entry_points(group)]


def optimizer_names() -> list[str]:
    """Built-in optimizer names, then the plugins' (as the registry lower-cases them)."""
    return list(dict.fromkeys([o.name for o in OPTIMIZERS]
                              + [lower(p.name) for p in plugin_entries(plugins.OPTIMIZERS)]))


def task_names() -> list[str]:
    """Built-in task names, then the plugins' entry-point names (a plugin's Task usually has the same name)."""
    return list(dict.fromkeys([t.name for t in TASKS] + [dashed(p.name) for p in plugin_entries(plugins.TASKS)]))


def function_names() -> list[str]:
    return [f.name for f in FUNCTIONS]


def check_optimizer(name: str) -> None:
    """UserError (with "did you mean") unless ``name`` is a built-in's or a plugin's name; a reference
    (``module:Name``, ``file.py:Name``) passes: it is checked when loaded."""
    if ":" in name:
        return
    names = optimizer_names()
    if lower(name) not in names:
        raise unknown("optimizer", name, names,
                      extra=", or module:Name or path/file.py:Name for an optimizer of your own")


def check_task(name: str) -> None:
    """UserError (with "did you mean") unless ``name`` is a built-in task's name. A reference to code or data
    (``file.py:name``, ``module:name``, ``.py``, ``.npz``, ``.csv``) passes, as does any name while task plugins
    are installed (a plugin's Task may be registered under another name than its entry point's): the registry
    checks those when it loads them."""
    text = name.strip()
    if ":" in text or text.lower().endswith((".py", ".npz", ".csv")) or plugin_entries(plugins.TASKS):
        return
    names = task_names()
    if dashed(text) not in names:
        raise unknown("task", name, names, normalize=dashed)


def check_function(name: str) -> None:
    """UserError (with "did you mean") unless ``name`` is a test function's name."""
    if lower(name) not in function_names():
        raise unknown("function", name, function_names())
