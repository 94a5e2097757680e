"""Tasks from anywhere: a reference that :func:`~descentlab.tasks.get_task` resolves to a task of the user's.

A reference is

- ``path/to/file.py:name`` (or ``file.py``, meaning ``file.py:task``): the object ``name`` of that Python file;
- ``package.module:name``: the object ``name`` of an importable module;
- ``data.npz`` or ``data.csv``: the data file on the default MLP (:func:`descentlab.tasks.custom.data_task`).

The object is a :class:`~descentlab.tasks.registry.Task` (usually made with
:func:`descentlab.tasks.custom_task`) or a function of no arguments that returns one. The task is registered
under its own name for the rest of the process (the runs' configurations name it, the trainers look it up) and
remembers where it came from: ``source`` is the reference, ``code_sha256`` the SHA-256 of the file it was read
from. A file is executed once per content: resolving the same reference again while the file is unchanged
returns the same task.

Everything that can go wrong is one :class:`~descentlab.errors.UserError` naming the file or module and the
problem: a missing file, a module that fails to import (with its error and the line in the user's file), a
missing name, an object that is not a task, a task name that is a built-in's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from descentlab.errors import UserError
from descentlab.tasks.registry import Task, get_task, register, task_names

DATA_SUFFIXES = (".npz", ".csv")
DEFAULT_OBJECT = "task"
_resolved: dict[tuple[str, str], Task] = {}  # (reference, content hash) -> the task it gave


def is_reference(name: object) -> bool:
    """Whether ``name`` points at user code or data rather than naming a registered task."""
    if not isinstance(name, str):
        return False
    text = name.strip()
    return ":" in text or text.lower().endswith((".py", *DATA_SUFFIXES))


def _error_line(exc: BaseException, path: Path | None) -> str:
    """``" (line N)"`` of the deepest frame of the traceback in ``path``, when there is one."""
    if path is None:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f" (line {frames[-1].lineno})" if frames else ""


def _load_file(path: Path, digest: str) -> ModuleType:
    module_name = f"descentlab_user_{path.stem}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"task file {str(path)!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except UserError as exc:  # e.g. custom_task's own checks: already one line
        sys.modules.pop(module_name, None)
        raise UserError(f"{path}: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - user code: any error is one line
        sys.modules.pop(module_name, None)
        raise UserError(f"importing task file {path} raised {type(exc).__name__}{_error_line(exc, path)}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return module


def _load_module(name: str) -> tuple[ModuleType, Path | None]:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UserError(f"cannot import module {name!r} (no module named {exc.name!r}); give an importable "
                            "module:name or a file path like ./my_task.py:task") from None
        raise UserError(f"importing module {name!r} raised ModuleNotFoundError: {exc}") from None
    except UserError as exc:
        raise UserError(f"module {name!r}: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - user code
        file = getattr(sys.modules.get(name), "__file__", None)
        raise UserError(f"importing module {name!r} raised {type(exc).__name__}"
                        f"{_error_line(exc, Path(file) if file else None)}: {exc}") from None
    file = getattr(module, "__file__", None)
    return module, Path(file) if file else None


def _task_of(obj: Any, where: str) -> Task:
    if isinstance(obj, Task):
        return obj
    if callable(obj) and not isinstance(obj, type):
        try:
            made = obj()
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - user code
            raise UserError(f"{where}() raised {type(exc).__name__}: {exc}") from None
        if isinstance(made, Task):
            return made
        raise UserError(f"{where}() returned {type(made).__name__}, not a task; return "
                        "descentlab.tasks.custom_task(...)")
    raise UserError(f"{where} is a {type(obj).__name__}, not a task; make one with descentlab.tasks.custom_task("
                    "name, model=..., x_train=..., y_train=..., x_test=..., y_test=...)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve(reference: str) -> Task:
    """The task ``reference`` points at (see the module docstring), registered under its name."""
    from descentlab.tasks.custom import CustomTask, data_task

    text = reference.strip()
    if text.lower().endswith(DATA_SUFFIXES) and ":" not in Path(text).name:
        path = Path(text).expanduser()
        if not path.is_file():
            raise UserError(f"data file {text!r} not found")
        key = (str(path.resolve()), _sha256(path))
        if key not in _resolved:
            _resolved[key] = data_task(path)
        return add(_resolved[key])
    target, sep, attr = text.rpartition(":")
    if not sep:
        target, attr = text, DEFAULT_OBJECT
    attr = attr.strip() or DEFAULT_OBJECT
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    if is_file:
        path = Path(target).expanduser()
        if not path.is_file():
            raise UserError(f"task file {target!r} not found")
        digest = _sha256(path)
        key = (f"{path.resolve()}:{attr}", digest)
        if key in _resolved:
            return add(_resolved[key])
        module, file = _load_file(path, digest), path
    else:
        if not target.replace(".", "").replace("_", "").isalnum():
            raise UserError(f"task {text!r}: expected a registered name, file.py:name or module:name")
        module, file = _load_module(target)
        digest = _sha256(file) if file is not None and file.is_file() else ""
        key = (f"{target}:{attr}", digest)
        if key in _resolved:
            return add(_resolved[key])
    if not hasattr(module, attr):
        found = [n for n, v in vars(module).items() if isinstance(v, Task) and not n.startswith("_")]
        hint = f"; it defines the task(s) {', '.join(found)}" if found else "; it defines no task"
        raise UserError(f"{file or target} has no {attr!r}{hint}")
    task = _task_of(getattr(module, attr), f"{target}:{attr}")
    if isinstance(task, CustomTask):
        task = dataclasses.replace(task, source=text, code_sha256=digest or None)
    _resolved[key] = task
    return add(task, text)


def add(task: Task, source: str | None = None) -> Task:
    """Register ``task`` under its name for this process (a user's task may replace an earlier user task of the
    same name, never a built-in one) and return it; ``source`` (default: a custom task's own) is where the
    registry says it came from."""
    from descentlab.tasks.custom import CustomTask

    current = get_task(task.name) if task.name in task_names() else None
    if current is not None and current is not task and not isinstance(current, CustomTask):
        raise UserError(f"task name {task.name!r} is a built-in task's; give your task another name")
    if current is not task:
        register(task, source=source or (task.source if isinstance(task, CustomTask) else "python"))
    return task


def forget() -> None:
    """Unregister every user task of this process and forget the files read (the built-ins stay)."""
    from descentlab.tasks.custom import CustomTask
    from descentlab.tasks.registry import TASKS

    for name in [n for n in task_names() if isinstance(get_task(n), CustomTask)]:
        TASKS.unregister(name)
    _resolved.clear()


def identity(task: Task) -> dict[str, Any]:
    """What an experiment on ``task`` adds to its spec: ``{}`` for a built-in task, else where it came from and
    its fingerprints (:meth:`~descentlab.tasks.custom.CustomTask.identity`)."""
    from descentlab.tasks.custom import CustomTask

    return task.identity() if isinstance(task, CustomTask) else {}
