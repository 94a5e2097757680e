"""Tasks from a user's own network and data: :func:`custom_task` (a model and arrays) and :func:`data_task` (a
``.npz`` or ``.csv`` file on a default MLP sized from the data).

A :class:`CustomTask` is a :class:`~descentlab.tasks.registry.Task` whose data are held in memory and whose
identity is stated: ``source`` says where it came from (a file, a module, Python), ``fingerprint`` is the SHA-256
of the code it was read from (the file; without one, the network's own Python code: its factory and the methods
of its classes, e.g. ``forward``), the network's structure (``repr`` of the model), the loss
and the data's content, and ``data_fingerprint`` is the data's own fingerprint (``sha256``, ``shapes``,
``dtypes``), so that editing the file, the network or the data is never mistaken for the same task.

Everything is checked when the task is built — arrays, shapes, labels, the loss, and one forward pass of the
network on two training examples — so bad input is one :class:`~descentlab.errors.UserError` before any
training.

The protocol is the built-ins' one: the validation split is carved from the training data with
``stratified_split(labels, val_fraction, data_seed)`` (by class for classification, uniformly for regression)
unless the task was given ``x_val``/``y_val``; seeds, the target (optional) and time to target are those of
:mod:`descentlab.train.core`. The loss is ``"cross_entropy"`` (classification, metric accuracy) or ``"mse"``
(regression: the metric is the loss itself, the records' accuracies are ``None`` and the target, if any, is a
validation loss to reach).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from descentlab.data import Splits, stratified_split
from descentlab.errors import UserError
from descentlab.specfile import data_source
from descentlab.tasks import models
from descentlab.tasks.registry import LOSSES, Task

log = logging.getLogger(__name__)  # the CLI prints its warnings as one line on stderr (cli/logs.py)

ARRAYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_ARRAYS = ("x_val", "y_val")
CSV_TEST_FRACTION, CSV_TEST_SEED = 0.2, 0  # the test split carved from a CSV file that comes without one
DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE = 20, 32


@dataclass(frozen=True, eq=False)
class CustomData:
    """A task's data as tensors: ``x`` float32; ``y`` int64 labels (classification) or float32 targets.
    ``x_val`` / ``y_val`` are ``None`` when the validation split is to be carved from the training data."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    x_val: Tensor | None
    y_val: Tensor | None
    classes: int  # number of classes; 0 for regression

    def splits(self, name: str, source: str, val_fraction: float, seed: int) -> Splits:
        """Train / validation / test as :class:`~descentlab.data.Splits`, the validation split carved with
        ``seed`` as the built-in datasets carve theirs (given validation arrays are used as they are)."""
        x, y = self.x_train, self.y_train
        if self.x_val is not None and self.y_val is not None:
            x_val, y_val = self.x_val, self.y_val
        else:
            labels = y.numpy() if self.classes else np.zeros(len(y), dtype=np.int64)  # regression: uniform
            keep, held = (torch.from_numpy(i) for i in stratified_split(labels, val_fraction, seed))
            if len(held) == 0 or len(keep) == 0:  # selection on validation would choose on nothing
                raise UserError(f"task {name!r}: holding out {val_fraction:g} of its {len(y)} training examples for "
                                f"validation leaves {'none to validate on' if len(held) == 0 else 'none to train'}; "
                                "give x_val and y_val, or more data")
            x, y, x_val, y_val = x[keep], y[keep], x[held], y[held]
        return Splits(name=name, x_train=x, y_train=y, x_val=x_val, y_val=y_val, x_test=self.x_test,
                      y_test=self.y_test, num_classes=self.classes, input_shape=tuple(x.shape[1:]), source=source)

    def tensors(self) -> dict[str, Tensor]:
        out = {name: getattr(self, name) for name in ARRAYS}
        if self.x_val is not None:
            out.update(x_val=self.x_val, y_val=self.y_val)
        return out


@dataclass(frozen=True, eq=False)
class CustomTask(Task):
    """A task built from user code or data (see the module docstring); :meth:`load` returns its own data."""

    data: CustomData | None = field(default=None, repr=False)
    source: str = "python"
    code_sha256: str | None = None  # of the file the task was read from, when there is one
    data_fingerprint: Mapping[str, Any] = field(default_factory=dict)
    structure: str = ""  # repr of the network: its layers and sizes
    model_code: str = ""  # SHA-256 of the network's own Python code (its factory and classes), see model_code_of

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the code (the file it was read from; without one, the network's own code), the network's
        structure, the loss and the data."""
        parts = (self.code_sha256 or self.model_code, self.structure, self.loss, self.metric, str(self.target_val_acc),
                 str(self.target_val_loss), str(self.data_fingerprint.get("sha256", "")))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What an experiment on this task adds to its spec: where it came from, its fingerprints, its metric and
        target (the report reads them from the store, never from the user's file)."""
        target = {"target_val_loss": self.target_val_loss} if self.metric == "loss" else {
            "target_val_acc": self.target_val_acc}
        return {"task_source": self.source, "task_fingerprint": self.fingerprint,
                "task_data": dict(self.data_fingerprint), "task_metric": self.metric, **target}

    def build_model(self, seed: int, init: str = "torch") -> nn.Module:
        """The network with weights drawn from ``seed``; lazy layers (``nn.LazyLinear``) are materialized on two
        training examples (:func:`~descentlab.tasks.models.build`)."""
        assert self.data is not None
        return models.build(self.architecture, seed, init, sample=self.data.x_train[:2])

    def load(self, *, val_fraction: float = 0.1, seed: int = 0, **_where: Any) -> Splits:
        """The task's data with the validation split for ``(val_fraction, seed)``; where-to-look options of the
        built-in datasets (``data_dir``, ``download``…) do not apply and are ignored."""
        from descentlab.data.split import check_fraction

        assert self.data is not None
        return self.data.splits(self.name, self.source, check_fraction(val_fraction), seed)


# -- arrays ------------------------------------------------------------------------------------------------------
def _array(value: Any, what: str, task: str) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise UserError(f"task {task!r}: {what} is not an array ({exc})") from None
    if array.dtype.kind not in "biuf":
        columns = [str(c) for c, t in getattr(value, "dtypes", {}).items() if getattr(t, "kind", "f") not in "biuf"] \
            if hasattr(getattr(value, "dtypes", None), "items") else []  # a pandas DataFrame: name its columns
        where = f" (column(s) {', '.join(columns[:5])})" if columns else ""
        raise UserError(f"task {task!r}: {what} must hold numbers, got dtype {array.dtype}{where}")
    if array.ndim == 0:
        raise UserError(f"task {task!r}: {what} must be an array of examples, got a scalar")
    return array


def _dataset_pairs(value: Any, what: str, task: str) -> tuple[Tensor, Tensor] | None:
    """``(x, y)`` of a torch dataset of ``(x, y)`` pairs — a ``TensorDataset``, any map-style or iterable
    ``Dataset``, or a ``DataLoader`` over one — read once into memory; ``None`` for anything else. A shuffling
    ``DataLoader`` is refused: its order would change the validation split and the data's fingerprint from one
    process to the next (the trainer draws each epoch's order itself)."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler, TensorDataset

    if isinstance(value, TensorDataset) and len(value.tensors) == 2:
        return value.tensors[0], value.tensors[1]
    if not isinstance(value, (Dataset, DataLoader)):
        return None
    if isinstance(value, DataLoader) and isinstance(value.sampler, RandomSampler):
        raise UserError(f"task {task!r}: {what} is a shuffling DataLoader; pass its dataset (or shuffle=False): "
                        "the data are read once, and each epoch's order is drawn from the run's seed")
    batched = isinstance(value, DataLoader) and value.batch_size is not None
    xs, ys = [], []
    try:
        map_style = isinstance(value, Dataset) and not isinstance(value, IterableDataset)
        # a map-style dataset by its indices 0..len-1: iterating it runs __getitem__ until an IndexError, past len
        for item in (value[i] for i in range(len(value))) if map_style else value:  # type: ignore[arg-type]
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise UserError(f"task {task!r}: {what} yields {type(item).__name__} items; a dataset given as "
                                f"{what} must yield (x, y) pairs")
            xs.append(torch.as_tensor(np.asarray(item[0]) if not isinstance(item[0], Tensor) else item[0]))
            ys.append(torch.as_tensor(np.asarray(item[1]) if not isinstance(item[1], Tensor) else item[1]))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's dataset raised: one line naming it
        raise UserError(f"task {task!r}: reading {what} ({type(value).__name__}) raised {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not xs:
        raise UserError(f"task {task!r}: {what} ({type(value).__name__}) is empty")
    try:
        return (torch.cat(xs), torch.cat(ys)) if batched else (torch.stack(xs), torch.stack(ys))
    except RuntimeError as exc:
        raise UserError(f"task {task!r}: the examples of {what} differ in shape ({str(exc).splitlines()[0]})") from None


def _is_integral(y: np.ndarray) -> bool:
    return y.dtype.kind in "biu" or bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))


def _values_text(values: Any, limit: int = 8) -> str:
    shown = [f"{v:g}" for v in values[:limit]]
    return ", ".join(shown) + (f", … ({len(values)} in all)" if len(values) > limit else "")


def _note_whole_float_labels(task: str, y: np.ndarray) -> None:
    """Float targets that are all whole numbers ≥ 0 (``0.0``/``1.0``) look like class labels saved as floats: they
    are regression targets by the dtype rule (:func:`check_arrays`); say so, and how to get classification."""
    if y.ndim != 1 or not len(y) or not _is_integral(y) or y.min() < 0:
        return
    log.warning("task %r: y_train is %s holding only whole numbers (%s): read as regression targets (mse loss); "
                "for classification store the labels as integers (y.astype(int)) or pass loss='cross_entropy'",
                task, y.dtype, _values_text(np.unique(y)))


def _warn_unseen_classes(task: str, data: CustomData) -> None:
    """One warning naming the classes of ``y_val``/``y_test`` that ``y_train`` never holds: no example teaches
    them, so every one counts as an error in that split's accuracy. (After :func:`check_model`, which refuses a
    network whose outputs cannot hold them.)"""
    parts, present = [], np.unique(data.y_train.numpy())
    for split in ("val", "test"):
        t = getattr(data, f"y_{split}")
        if t is None:
            continue
        y = t.numpy()
        unseen = np.setdiff1d(np.unique(y), present)
        if len(unseen):
            count = int(np.isin(y, unseen).sum())
            parts.append(f"y_{split} has class(es) {_values_text(unseen)} ({count} of its {len(y)} examples)")
    if parts:
        log.warning("task %r: %s that y_train never has: no training example teaches them, so each counts as an "
                    "error in the accuracy", task, "; ".join(parts))


def check_arrays(task: str, arrays: Mapping[str, Any], loss: str | None) -> tuple[CustomData, str]:
    """The arrays as a :class:`CustomData` and the loss (given, else ``cross_entropy`` for integer labels and
    ``mse`` for float targets); UserError naming the array and what is wrong."""
    missing = [k for k in ARRAYS if arrays.get(k) is None]
    if missing:
        raise UserError(f"task {task!r}: missing {', '.join(missing)}; a task needs {', '.join(ARRAYS)} "
                        "(and optionally x_val, y_val)")
    if (arrays.get("x_val") is None) != (arrays.get("y_val") is None):
        raise UserError(f"task {task!r}: give both x_val and y_val, or neither (then 10% of the training data is "
                        "held out for validation)")
    names = [k for k in (*ARRAYS, *OPTIONAL_ARRAYS) if arrays.get(k) is not None]
    a = {k: _array(arrays[k], k, task) for k in names}
    if loss is not None and loss not in LOSSES:
        if callable(loss):  # a loss function of the user's: say why not, not "unknown loss <function ...>"
            raise UserError(f"task {task!r}: loss is a name, one of {', '.join(LOSSES)}, not a function "
                            f"({getattr(loss, '__name__', type(loss).__name__)}): both trainers evaluate a loss "
                            "per example, summed and stacked, which these two are written for")
        raise UserError(f"task {task!r}: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if loss is None:
        loss = "cross_entropy" if a["y_train"].dtype.kind in "biu" else "mse"
        if loss == "mse":
            _note_whole_float_labels(task, a["y_train"])
    splits = [s for s in ("train", "val", "test") if f"x_{s}" in a]
    feature_shape = a["x_train"].shape[1:]
    for s in splits:
        x, y = a[f"x_{s}"], a[f"y_{s}"]
        if x.ndim < 2:
            raise UserError(f"task {task!r}: x_{s} has shape {x.shape}; expected [N, features...]")
        if x.shape[1:] != feature_shape:
            raise UserError(f"task {task!r}: x_{s} has examples of shape {x.shape[1:]}, x_train of {feature_shape}")
        if len(x) != len(y):
            raise UserError(f"task {task!r}: x_{s} has {len(x)} examples but y_{s} has {len(y)}")
        if len(x) == 0:
            raise UserError(f"task {task!r}: x_{s} is empty")
        if not np.all(np.isfinite(x)):
            first = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0]
            raise UserError(f"task {task!r}: x_{s} holds NaN or infinite values (the first: example {first[0]}, "
                            f"feature {first[1]}: {x.reshape(len(x), -1)[first[0], first[1]]})")
        if loss == "cross_entropy":
            if y.ndim != 1 or not _is_integral(y) or y.min() < 0:
                raise UserError(f"task {task!r}: y_{s} must be class labels 0, 1, 2, … (a 1-D array of whole "
                                f"numbers ≥ 0) for the cross-entropy loss; got shape {y.shape}, dtype {y.dtype}"
                                + ("" if y.ndim != 1 or not len(y) else f", values {y.min():g}…{y.max():g}"))
        elif y.ndim > 2 or not np.all(np.isfinite(y)):
            raise UserError(f"task {task!r}: y_{s} must be finite regression targets of shape [N] or [N, outputs]; "
                            f"got shape {y.shape}")
    if loss != "cross_entropy" and len({a[f"y_{s}"].shape[1:] for s in splits}) > 1:
        raise UserError(f"task {task!r}: the targets' shapes differ between splits: "
                        + ", ".join(f"y_{s} {a[f'y_{s}'].shape}" for s in splits))
    classes = int(max(a[f"y_{s}"].max() for s in splits)) + 1 if loss == "cross_entropy" else 0
    present = np.unique(a["y_train"]) if loss == "cross_entropy" else ()
    if loss == "cross_entropy" and len(present) < 2:  # labels all 0, or all 1 (then max + 1 = 2 'classes')
        raise UserError(f"task {task!r}: the labels hold one class only (y_train is all {present[0]:g}); "
                        "classification needs at least two")

    def tensor(k: str) -> Tensor | None:
        if k not in a:
            return None
        dtype = np.int64 if (k.startswith("y") and loss == "cross_entropy") else np.float32
        return torch.from_numpy(np.ascontiguousarray(a[k], dtype=dtype))

    data = CustomData(tensor("x_train"), tensor("y_train"), tensor("x_test"), tensor("y_test"), tensor("x_val"),
                      tensor("y_val"), classes)
    return data, loss


def data_fingerprint(data: CustomData) -> dict[str, Any]:
    """``{"sha256", "shapes", "dtypes"}``: the SHA-256 (first 16 hex digits) of each array's name, dtype, shape and
    bytes in a fixed order, equal exactly when the tensors the trainer starts from are equal."""
    digest = hashlib.sha256()
    shapes, dtypes = {}, {}
    for name, t in data.tensors().items():
        array = np.ascontiguousarray(t.numpy())
        digest.update(f"{name}:{array.dtype.str}:{','.join(map(str, array.shape))};".encode())
        digest.update(array.tobytes())
        shapes[name] = list(array.shape)
        dtypes[name[0]] = str(array.dtype)
    return {"sha256": digest.hexdigest()[:16], "shapes": shapes, "dtypes": dtypes}


# -- the network -------------------------------------------------------------------------------------------------
def _reset_of(module: nn.Module) -> Callable[[], None] | None:
    """The method that draws ``module``'s own parameters again: ``reset_parameters`` (torch's layers), else
    ``_reset_parameters`` (``nn.MultiheadAttention``, ``nn.Transformer``)."""
    for name in ("reset_parameters", "_reset_parameters"):
        reset = getattr(module, name, None)
        if callable(reset):
            return reset
    return None


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every layer's parameters drawn again (:func:`_reset_of`), so that each seed
    starts from its own weights as with a factory."""
    out = copy.deepcopy(module)
    for sub in out.modules():
        reset = _reset_of(sub)
        if reset is not None:
            reset()
    return out


def architecture_of(model: Any, task: str) -> Callable[[], nn.Module]:
    """``model`` as a factory ``() -> nn.Module``: a class or function is called; a module instance is copied
    with fresh weights per build. An instance holding parameters that no layer's ``reset_parameters`` draws
    again (a ``nn.Parameter`` of a module of your own) is a UserError: every seed would start from the same
    weights."""
    if isinstance(model, nn.Module):
        kept = [f"{prefix}.{name}" if prefix else name for prefix, sub in model.named_modules()
                if _reset_of(sub) is None for name, _ in sub.named_parameters(recurse=False)]
        if kept:
            raise UserError(f"task {task!r}: the model instance's parameter(s) {', '.join(kept[:5])} cannot be "
                            f"drawn again per seed ({type(model).__name__} has no reset_parameters for them), so "
                            "every run would start from the same weights; pass the class or a function that "
                            "returns a fresh module")
        return partial(_fresh_copy, model)
    if callable(model):
        return model
    raise UserError(f"task {task!r}: model must be a torch.nn.Module, or a function or class that returns one; "
                    f"got {type(model).__name__}")


def _hash_code(code: Any, digest: Any) -> None:
    """Feed a code object's instructions, names and constants (nested functions' too) to ``digest``; never its
    file name or line numbers, which change when a notebook cell is run again or moved."""
    digest.update(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            _hash_code(const, digest)
        elif isinstance(const, frozenset):  # `x in {"a", "b"}`: its repr's order changes with PYTHONHASHSEED
            digest.update(repr(sorted(map(repr, const))).encode())
        else:
            digest.update(repr(const).encode())


def _hash_function(function: Any, digest: Any, depth: int = 0) -> None:
    """A function's code and the values its closure captured (an ``activation`` passed to the function that defines
    the class): a captured function by its code, or by its module and name (``torch.tanh``), a number or text by its
    ``repr``, anything else by its type's name."""
    _hash_code(function.__code__, digest)
    for cell in getattr(function, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell: a name not bound yet
            digest.update(b"<empty>")
            continue
        if hasattr(value, "__code__") and depth < 3:
            _hash_function(value, digest, depth + 1)
        elif callable(value) and hasattr(value, "__qualname__"):
            digest.update(f"{getattr(value, '__module__', '')}.{value.__qualname__}".encode())
        elif isinstance(value, (int, float, complex, str, bytes, bool, type(None))):
            digest.update(repr(value).encode())
        else:
            digest.update(type(value).__qualname__.encode())


def model_code_of(architecture: Callable[[], nn.Module], model: nn.Module) -> str:
    """SHA-256 of the Python code that defines the network, beyond its layers' ``repr``: the factory (a function,
    a lambda, a ``partial``'s function) and every method of the user's classes in the built module (not torch's).
    Two networks with the same layers whose ``forward`` differs (``tanh`` vs ``relu`` called in it) differ here."""
    digest = hashlib.sha256()
    factory = architecture.func if isinstance(architecture, partial) else architecture
    if getattr(factory, "__code__", None) is not None:
        _hash_function(factory, digest)
    classes = {c for sub in model.modules() for c in type(sub).__mro__  # exec'd code's are in "builtins"
               if c is not object and c.__module__.split(".")[0] != "torch"}
    for cls in sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        digest.update(f"{cls.__qualname__};".encode())
        for attr, value in sorted(vars(cls).items()):
            function = getattr(value, "__func__", value)  # staticmethod / classmethod
            if hasattr(function, "__code__"):
                digest.update(attr.encode())
                _hash_function(function, digest)
    return digest.hexdigest()


def check_model(task: str, architecture: Callable[[], nn.Module], data: CustomData, loss: str) -> tuple[str, str]:
    """Build the network (seed 0) and run it on two training examples; its ``repr`` (the structure) and
    :func:`model_code_of` when the outputs fit the loss, else UserError saying what the network did."""
    try:
        model = models.build(architecture, 0, sample=data.x_train[:2])
    except Exception as exc:  # noqa: BLE001 - user code: any error is reported as one line
        raise UserError(f"task {task!r}: building the model raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"task {task!r}: the model factory returned {type(model).__name__}, not a torch.nn.Module")
    other = [(name, t.dtype) for name, t in (*model.named_parameters(), *model.named_buffers())
             if t.is_floating_point() and t.dtype != torch.float32]
    if other:  # the data are float32 tensors; a float64 layer fails on them with a dtype mismatch deep in torch
        raise UserError(f"task {task!r}: the network's {other[0][0]} is {str(other[0][1]).replace('torch.', '')}; "
                        "the data are float32 and tasks train in float32: build the network in float32 "
                        "(no .double()/.half())")
    x, y = data.x_train[:2], data.y_train[:2]
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:  # noqa: BLE001 - user code
        raise UserError(f"task {task!r}: the model raised {type(exc).__name__} on two training examples of shape "
                        f"{tuple(x.shape)}: {exc}") from None
    if not isinstance(out, Tensor):
        raise UserError(f"task {task!r}: the model returned {type(out).__name__}, not a tensor")
    if loss == "cross_entropy":
        if out.ndim != 2 or out.shape[0] != len(x) or out.shape[1] < data.classes:
            raise UserError(f"task {task!r}: the model's output has shape {tuple(out.shape)} for {len(x)} examples; "
                            f"cross-entropy needs [N, classes] with at least {data.classes} classes"
                            + _largest_label(data))
    elif out.shape[0] != len(x) or out[0].numel() != y[0].numel():
        raise UserError(f"task {task!r}: the model's output has shape {tuple(out.shape)} for targets of shape "
                        f"{tuple(y.shape)}; the mse loss needs one output per target value")
    return repr(model), model_code_of(architecture, model)


def _largest_label(data: CustomData) -> str:
    """Where the largest label, the one that sets the number of classes, is: `` (label 3 is in y_test, …)``."""
    where = [name for name, y in (("y_train", data.y_train), ("y_val", data.y_val), ("y_test", data.y_test))
             if y is not None and len(y) and int(y.max()) == data.classes - 1]
    never = "" if not where or where[0] == "y_train" else ", never in y_train"
    return f" (label {data.classes - 1} is in {' and '.join(where)}{never})" if where else ""


def default_mlp(features: int, outputs: int) -> tuple[Callable[[], nn.Module], int]:
    """The network of a data file: Flatten → Linear(features, H) → ReLU → Linear(H, outputs), with
    ``H = min(256, max(32, 2 · features))``; (factory, H)."""
    hidden = min(256, max(32, 2 * features))
    return partial(models.mlp, features, hidden, outputs), hidden


# -- building tasks ----------------------------------------------------------------------------------------------
def custom_task(name: str, *, model: Any, data: Mapping[str, Any] | None = None, x_train: Any = None,
                y_train: Any = None, x_test: Any = None, y_test: Any = None, x_val: Any = None, y_val: Any = None,
                loss: str | None = None, target: float | None = None, epochs: int = DEFAULT_EPOCHS,
                batch_size: int | str = DEFAULT_BATCH_SIZE, description: str = "", source: str = "python",
                code_sha256: str | None = None) -> CustomTask:
    """A task of your own network and data, for ``descentlab compare/sweep/lr-find --task file.py:name`` and the
    Python API.

    Args:
        name: how tables and the store name it (lower case, ``_`` read as ``-``).
        model: a function or class returning a fresh ``torch.nn.Module`` (called once per run, under the run's
            seed), or a module (copied, its layers' parameters reset per run; an ``nn.Parameter`` that no
            ``reset_parameters`` draws again is a UserError, since every run would start from its value).
        data: a mapping holding the arrays below (e.g. ``numpy.load("file.npz")``), instead of passing them.
        x_train, y_train, x_test, y_test: numpy arrays or tensors, examples along the first axis; ``y`` holds
            class labels 0…C−1 (classification) or float targets, ``[N]`` or ``[N, outputs]`` (regression).
            ``x_train`` (``x_test``, ``x_val``) may instead be a torch dataset of ``(x, y)`` pairs (a
            ``TensorDataset``, any ``Dataset`` or ``IterableDataset``, a non-shuffling ``DataLoader``) with no
            ``y_train``: it is read once into memory (its transforms run once).
        x_val, y_val: a validation split; without them 10% of the training data is held out (stratified,
            ``data_seed``), as for the built-in tasks.
        loss: ``"cross_entropy"`` (metric: accuracy) or ``"mse"`` (metric: the loss); default from ``y_train``'s
            dtype: integers → cross-entropy, floats → mse.
        target: the validation accuracy (classification) or validation loss (regression) whose first reaching is
            the time to target; none by default.
        epochs, batch_size: the defaults of runs on this task (``batch_size`` may be ``"full"``).
    """
    name = str(name).strip().lower().replace("_", "-")
    if not name:
        raise UserError("a task needs a name")
    given = dict(data or {})
    for key, value in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test),
                       ("x_val", x_val), ("y_val", y_val)):
        if value is not None:
            given[key] = value
    for split in ("train", "val", "test"):
        pairs = _dataset_pairs(given.get(f"x_{split}"), f"x_{split}", name)
        if pairs is not None:
            if given.get(f"y_{split}") is not None:
                raise UserError(f"task {name!r}: x_{split} is a dataset of (x, y) pairs; give no y_{split}")
            given[f"x_{split}"], given[f"y_{split}"] = pairs
    arrays, loss = check_arrays(name, given, loss)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"task {name!r}: epochs must be a whole number ≥ 1, got {epochs!r}")
    if batch_size != "full" and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise UserError(f"task {name!r}: batch_size must be a whole number ≥ 1 or 'full', got {batch_size!r}")
    if target is not None and not (isinstance(target, (int, float)) and np.isfinite(target)):
        raise UserError(f"task {name!r}: target must be a number, got {target!r}")
    architecture = architecture_of(model, name)
    structure, model_code = check_model(name, architecture, arrays, loss)
    classification = loss == "cross_entropy"
    if classification:
        _warn_unseen_classes(name, arrays)
    return CustomTask(
        name=name, dataset=name, architecture=architecture, default_epochs=epochs, default_batch_size=batch_size,
        target_val_acc=float(target) if classification and target is not None else None,
        target_val_loss=float(target) if not classification and target is not None else None,
        description=description or f"{'classification' if classification else 'regression'} from {source}",
        loss=loss, metric="accuracy" if classification else "loss", data=arrays, source=source,
        code_sha256=code_sha256, data_fingerprint=data_fingerprint(arrays), structure=structure,
        model_code=model_code)


def _standardize(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Features scaled by the training data's per-feature mean and std (a constant feature is only centred)."""
    x = arrays["x_train"].astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 0, std, 1.0)
    return {k: ((v - mean) / std).astype(np.float32) if k.startswith("x") else v for k, v in arrays.items()}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file: x_train, y_train, x_test, y_test and, if present, x_val, y_val."""
    try:
        with np.load(path, allow_pickle=False) as f:
            found = list(f.files)
            missing = [k for k in ARRAYS if k not in found]
            if missing:
                raise UserError(f"{path}: missing array(s) {', '.join(missing)}; an .npz needs {', '.join(ARRAYS)} "
                                f"(and optionally x_val, y_val); it has {', '.join(found) or 'none'}")
            return {k: f[k] for k in (*ARRAYS, *OPTIONAL_ARRAYS) if k in found}
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None


def read_csv(path: Path, label_column: str | None) -> tuple[list[str], np.ndarray, list[str], str | None]:
    """(feature names, features [N, F] float, labels as written, the label column when it is not the default one)
    of a CSV file with a header row. The label column is ``label_column``, else a column named ``label``, else the
    last one; an empty label is an error (a missing value, never a class of its own). :func:`encode_labels` turns
    the labels into numbers."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if len(rows) < 2:
        raise UserError(f"{path}: a CSV needs a header row and at least one row of data")
    header = [h.strip() for h in rows[0]]
    separator = next((c for c in ";\t|" if c in header[0]), None) if len(header) == 1 else None
    if separator is not None:  # checked first: the label column cannot be found in such a header either
        raise UserError(f"{path}: the header {header[0]!r} is one column; descentlab reads comma-separated files "
                        f"(this one looks separated by {separator!r})")
    default = "label" if "label" in header else header[-1]
    label_column = default if label_column is None else label_column
    if label_column not in header:
        raise UserError(f"{path}: no column {label_column!r}; the columns are {', '.join(header)}")
    if len(header) < 2:
        raise UserError(f"{path}: needs at least one feature column besides the label {label_column!r}")
    j = header.index(label_column)
    features, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
        try:
            features.append([float(v) for i, v in enumerate(row) if i != j])
        except ValueError:
            bad = next(v for i, v in enumerate(row) if i != j and not _is_number(v))
            raise UserError(f"{path}, line {line}: feature value {bad!r} is not a number") from None
        bad = next((v for v in features[-1] if not np.isfinite(v)), None)
        if bad is not None:  # float() reads 'nan' and 'inf': a missing value, not a number to train on
            raise UserError(f"{path}, line {line}: feature value {bad} is not a finite number; fill in or drop the "
                            "row's missing values")
        labels.append(row[j].strip())
        if not labels[-1]:
            raise UserError(f"{path}, line {line}: the label (column {label_column!r}) is empty; every row needs one")
    return ([h for i, h in enumerate(header) if i != j], np.array(features, dtype=np.float64), labels,
            None if label_column == default else label_column)


def encode_labels(labels: list[str], path: Path, classes: list[str] | None = None,
                  classes_of: Path | None = None) -> tuple[np.ndarray, list[str] | None]:
    """(labels as numbers, class names or ``None``). Without ``classes``: numbers stay numbers (whole ones as
    int64 classes, others float targets) and names are numbered in sorted order (they are returned). With the
    ``classes`` of the training file ``classes_of`` (a test file): each label is that class's number there, so
    both files number a class alike; a label that is none of them is a UserError naming its line, and so is a
    name in a test file whose training file's labels are numbers."""
    if classes is None and classes_of is not None:
        for line, v in enumerate(labels, start=2):
            if not _is_number(v):
                raise UserError(f"{path}, line {line}: label {v!r} is not a number, as the labels of {classes_of} are")
    if classes is not None:
        index = {name: i for i, name in enumerate(classes)}
        for line, v in enumerate(labels, start=2):
            if v not in index:
                raise UserError(f"{path}, line {line}: label {v!r} is no class of {classes_of}; its classes are "
                                f"{', '.join(classes)}")
        return np.array([index[v] for v in labels], dtype=np.int64), classes
    if all(_is_number(v) for v in labels):
        y = np.array([float(v) for v in labels])
        return (y.astype(np.int64) if _is_integral(y) else y), None
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in labels], dtype=np.int64), names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_data_file(path: str | Path, *, label_column: str | None = None, test: str | Path | None = None
                   ) -> tuple[dict[str, np.ndarray], str, str]:
    """(arrays, source, SHA-256 of the file(s)) of a data file, as they are in it.

    ``.npz``: arrays ``x_train, y_train, x_test, y_test`` (optionally ``x_val, y_val``). ``.csv``: a header row,
    numeric features and a label column (``label_column``, else ``label``, else the last); the test split is the
    file ``test`` when given, else 20% of the rows carved off with a fixed seed (stratified by class for
    classification). Integer labels are classes, other numbers regression targets.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"data file {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise UserError(f"data file {str(path)!r} not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if label_column is not None or test is not None:
            raise UserError(f"{path}: --label-column and --test-data are for CSV files; an .npz holds its splits")
        arrays, source = read_npz(path), str(path)
    elif suffix == ".csv":
        names, x, labels, label = read_csv(path, label_column)
        y, classes = encode_labels(labels, path)
        if test is not None:
            test = Path(test)
            if not test.is_file():
                raise UserError(f"test data file {str(test)!r} not found")
            test_names, x_test, test_labels, _ = read_csv(test, label_column)
            if test_names != names:
                raise UserError(f"{test}: its feature columns {', '.join(test_names)} differ from {path}'s "
                                f"{', '.join(names)}")
            y_test, _ = encode_labels(test_labels, test, classes, path)
            arrays = {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}
        else:
            labels = y if y.dtype.kind in "iu" else np.zeros(len(y), dtype=np.int64)
            keep, held = stratified_split(labels, CSV_TEST_FRACTION, CSV_TEST_SEED)
            arrays = {"x_train": x[keep], "y_train": y[keep], "x_test": x[held], "y_test": y[held]}
        source = data_source(path, label, test, CSV_TEST_FRACTION, CSV_TEST_SEED)
    else:
        raise UserError(f"data file {str(path)!r}: use an .npz or a .csv file")
    digest = ":".join(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (path, test) if p is not None)
    return arrays, source, digest


def data_task(path: str | Path, *, label_column: str | None = None, test: str | Path | None = None,
              name: str | None = None, epochs: int = DEFAULT_EPOCHS, batch_size: int | str = DEFAULT_BATCH_SIZE,
              target: float | None = None) -> CustomTask:
    """A task of a data file (:func:`read_data_file`) on the default MLP (:func:`default_mlp`), features
    standardized with the training data's mean and std; integer labels are classes (cross-entropy), other
    numbers regression targets (mse)."""
    arrays, source, digest = read_data_file(path, label_column=label_column, test=test)
    path = Path(path)
    task_name = name or path.stem
    for k in list(arrays):
        arrays[k] = _array(arrays[k], k, task_name)
    x_train, y = arrays["x_train"], arrays["y_train"]
    if x_train.ndim < 2 or len(x_train) == 0:
        raise UserError(f"{path}: x_train has shape {x_train.shape}; expected [N, features...] with N ≥ 1")
    for k in [k for k in arrays if k.startswith("x")]:
        if not np.all(np.isfinite(arrays[k])):
            flat = arrays[k].reshape(len(arrays[k]), -1)
            first = np.argwhere(~np.isfinite(flat))[0]
            raise UserError(f"{path}: {k} holds NaN or infinite values (the first: example {first[0]}, feature "
                            f"{first[1]}: {flat[first[0], first[1]]})")
    classification = y.dtype.kind in "biu"
    if classification:
        outputs = max(2, int(max(arrays[k].max() for k in arrays if k.startswith("y") and arrays[k].size)) + 1)
    else:
        outputs = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    features = int(np.prod(x_train.shape[1:]))
    architecture, hidden = default_mlp(features, outputs)
    kind = "classes" if classification else "outputs"
    return custom_task(task_name, model=architecture, data=_standardize(arrays), epochs=epochs,
                       batch_size=batch_size, target=target, source=source, code_sha256=digest,
                       description=f"{path.name} on MLP {features} → {hidden} → {outputs} {kind} (ReLU), "
                                   "features standardized with the training data's mean and std")
