"""``RunConfig``: everything one training run depends on. Its :meth:`~RunConfig.to_dict` is the run's identity."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from descentlab import __version__
from descentlab.errors import UserError
from descentlab.jsonable import to_json_data
from descentlab.schedules.spec import foreign_schedule_object
from descentlab.tasks import INITS, Task, get_task
from descentlab.tasks.registry import fingerprint_of

BatchSize = int | str  # a positive int, or "full" (batch gradient descent)


@functools.cache
def library_identity() -> str:
    """Which descentlab made a run: its version and a digest of its own source, ``"0.1.0+3f2a…"`` (SHA-256 of
    every ``.py`` file of the package, by relative path, first 12 hex digits). Between releases the version stays
    the same while the code changes what it computes (a checkout that pulled new commits, an edited install), and
    an experiment must not resume with results of other code: the digest keeps them apart."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class RunConfig:
    """One configuration: task, optimizer and its resolved hyperparameters, budget, seeds, init, schedule.

    Build it with :meth:`build` (which fills the task's defaults and resolves the optimizer's hyperparameters);
    the constructor only stores. ``seed`` draws the weights and the per-epoch permutations; ``data_seed`` and
    ``val_fraction`` carve the validation split (kept fixed across training seeds by default).
    ``schedule`` is an optional ``step -> lr`` callable (absolute learning rate for the 0-based update ``step``).
    ``code``: fingerprints of user code the run depends on (an optimizer or task that is not descentlab's: its
    source's SHA-256), filled by :meth:`build`. The identity (:meth:`to_dict`) holds them and descentlab's version
    and source digest (:func:`library_identity`), so editing your code, or upgrading, never silently reuses results
    of the old code.
    """

    task: str
    optimizer: str
    hyperparameters: Mapping[str, Any]
    epochs: int
    batch_size: BatchSize
    seed: int = 0
    init: str = "torch"
    schedule: Callable[[int], float] | None = field(default=None, compare=False)
    val_fraction: float = 0.1
    data_seed: int = 0
    code: Mapping[str, str] = field(default_factory=dict)
    label: str | None = field(default=None, compare=False)  # how tables name it, e.g. "sgd(lr=0.1)"; not identity

    @property
    def display_name(self) -> str:
        """The optimizer as the user wrote it (with its hyperparameters when they were given), else its name."""
        return self.label or self.optimizer

    @classmethod
    def build(cls, task: Task | str, optimizer: str, hyperparameters: Mapping[str, Any] | None = None, *,
              epochs: int | None = None, batch_size: BatchSize | None = None, seed: int = 0, init: str = "torch",
              schedule: Callable[[int], float] | None = None, val_fraction: float = 0.1,
              data_seed: int = 0, label: str | None = None) -> RunConfig:
        from descentlab import optim

        task = get_task(task) if isinstance(task, str) else task
        entry = optim.get(optimizer)
        epochs = task.default_epochs if epochs is None else epochs
        batch_size = task.default_batch_size if batch_size is None else batch_size
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise UserError(f"epochs must be a positive integer, got {epochs!r}")
        check_batch_size(batch_size)
        if init not in INITS:
            raise UserError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if schedule is not None and (hint := foreign_schedule_object(schedule)) is not None:
            raise UserError(hint)  # a torch scheduler class is callable, but not step -> lr
        if schedule is not None and not callable(schedule):
            raise UserError(f"schedule must be a callable step -> lr, got {schedule!r}")
        code = {k: v for k, v in (("optimizer", entry.fingerprint), ("task", fingerprint_of(task)))
                if v}
        return cls(task.name, entry.name, entry.hyperparameters(hyperparameters), epochs, batch_size, seed, init,
                   schedule, val_fraction, data_seed, code, label)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (tuples become lists, the schedule its type and fields)."""
        return {
            "task": self.task, "optimizer": self.optimizer,
            "hyperparameters": _jsonable(dict(self.hyperparameters)),
            "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed, "init": self.init,
            "schedule": describe_schedule(self.schedule),
            "val_fraction": self.val_fraction, "data_seed": self.data_seed,
            "descentlab": library_identity(), **({"code": dict(self.code)} if self.code else {}),
        }

    def digest(self) -> str:
        """SHA-256 of :meth:`to_dict` as canonical JSON: equal configurations, equal digests."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.digest())


def check_batch_size(batch_size: BatchSize) -> None:
    if batch_size == "full":
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer or 'full', got {batch_size!r}")


def describe_schedule(schedule: Any) -> Any:
    """``None``; a dataclass schedule as ``{"type": name, **fields}`` (nested schedules too); else its name."""
    if schedule is None:
        return None
    if dataclasses.is_dataclass(schedule) and not isinstance(schedule, type):
        fields = {f.name: describe_schedule(getattr(schedule, f.name)) if callable(getattr(schedule, f.name))
                  else _jsonable(getattr(schedule, f.name)) for f in dataclasses.fields(schedule)}
        return {"type": type(schedule).__name__, **fields}
    name = getattr(schedule, "__qualname__", None) or type(schedule).__qualname__
    return {"type": f"{getattr(schedule, '__module__', '')}.{name}"}


def _jsonable(value: Any) -> Any:
    try:
        return to_json_data(value, non_finite="keep")
    except TypeError:
        raise UserError(f"cannot describe {value!r} in a run configuration") from None
