"""Spec files: an experiment of ``compare``, ``sweep`` or ``benchmark`` as a TOML file whose keys are the command's
flags.

``descentlab compare --spec exp.toml`` reads the file (:func:`read`; the command line checks its keys against
its own flags, and flags given on the command line win); the report shows a stored experiment's spec in the same
form (:func:`flags_of`, :func:`to_toml`), so an experiment can be shared and rerun from a file::

    task = "mnist1d-mlp"
    optimizers = ["sgd", "adam(lr=0.003)"]
    batch-size = 32
    seeds = 3

The stored spec (``CompareSpec.to_dict()``, ``SweepSpec.to_dict()``, ``BenchmarkSpec.to_dict()``) is turned back into
flag values that parse
to the same spec: lists as TOML arrays (read back joined with commas), a sweep's range as ``"LO..HI"`` with each
end's exact ``repr``, its hyperparameter grid as ``hp = ["NAME=V1,V2", …]`` in the stored order (each value's
``repr``, so a float stays a float and an int an int), and how its trials ran (``vectorize``; a sweep's
``group-size`` and ``device``), which is part of the experiment's identity. A value a flag leaves at its default
(``epochs`` of the task) is left out, as it was on the command line. A benchmark's file names its ``tasks`` (a
user's task by the reference it came from), ``optimizers``, ``budget``, ``seeds``, ``search-seed``, ``preset``,
``epochs`` when given, and its execution.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from descentlab.errors import UserError

KINDS = ("compare", "sweep", "benchmark")  # the kinds whose experiments a spec file describes


def read(path: str | Path) -> dict[str, Any]:
    """The table of a TOML file, or a UserError naming the file and what is wrong (missing, unreadable, not TOML)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"--spec {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"--spec {path}: it is a folder; give a .toml file") from None
    except OSError as e:
        raise UserError(f"--spec {path}: cannot read it ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"--spec {path}: not valid TOML ({e})") from None


def flag_text(value: Any) -> str:
    """A value as a flag's text that parses back to the same value (floats by their exact repr)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


_CSV_SOURCE = re.compile(r'(?P<data>.+?\.csv)(?: \+ (?P<test>.+?\.csv))?'
                         r'(?: \((?:label column (?P<label>"(?:[^"\\]|\\.)*"))?(?:; )?(?:test: [^)]*)?\))?',
                         re.IGNORECASE)


def data_source(path: str | Path, label_column: str | None, test: str | Path | None, test_fraction: float,
                test_seed: int) -> str:
    """How a CSV data task says where it came from (its ``task_source``, part of the experiment's identity): the
    file, the test file or how the test split was carved, and the label column when it is not the default one.
    :func:`data_flags` reads the flags back from it."""
    label = f"label column {json.dumps(label_column)}" if label_column is not None else ""
    if test is not None:
        return f"{path} + {test}" + (f" ({label})" if label else "")
    return f"{path} ({label + '; ' if label else ''}test: {test_fraction:.0%} of the rows, seed {test_seed})"


def data_flags(source: str) -> dict[str, Any] | None:
    """``{"data", "label-column", "test-data"}`` (those that apply) of a data task's ``source``; None when the
    source is no data file."""
    if source.lower().endswith(".npz"):
        return {"data": source}
    match = _CSV_SOURCE.fullmatch(source)
    if match is None:
        return None
    out: dict[str, Any] = {"data": match["data"]}
    if match["label"]:
        out["label-column"] = json.loads(match["label"])
    if match["test"]:
        out["test-data"] = match["test"]
    return out


def task_flags(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``task`` (a name, or the reference a user's task came from) or ``data`` (a user's data file, with its
    ``label-column`` and ``test-data`` when they were given)."""
    source = spec.get("task_source")
    if isinstance(source, str) and (flags := data_flags(source)) is not None:
        return flags
    if isinstance(source, str) and ":" in source:
        return {"task": source}
    return {"task": spec["task"]}


def flags_of(kind: str, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The flag values (by flag name) that make ``kind``'s command rebuild the stored ``spec``; None for a kind
    that has no spec file (``lr-find``, …) or a spec without its fields."""
    if kind not in KINDS or not isinstance(spec, Mapping):
        return None
    try:
        return _flags(kind, spec)
    except (KeyError, TypeError, ValueError):  # a spec stored without these fields: no spec file to show
        return None


def _benchmark_flags(spec: Mapping[str, Any]) -> dict[str, Any]:
    users = spec.get("task_identity") or {}
    # each task as compare's file names it: a user's task by its file or data reference, else (a built-in task, or
    # one made in Python, whose source is "python") by its name
    tasks = [next(iter(task_flags({"task": t, **(users.get(t) or {})}).values())) for t in spec["tasks"]]
    out: dict[str, Any] = {"tasks": [str(t) for t in tasks], "optimizers": list(spec["optimizers"]),
                           "budget": [int(b) for b in spec["budgets"]], "seeds": int(spec["seeds"])}
    if spec.get("epochs") is not None:
        out["epochs"] = spec["epochs"]
    out["preset"] = spec.get("preset", "torch")
    out["search-seed"] = int(spec.get("search_seed", 0))
    _execution(out, spec, "benchmark")
    return out


def _execution(out: dict[str, Any], spec: Mapping[str, Any], kind: str) -> None:
    execution = spec.get("execution")  # how trials ran is part of the experiment's identity: kept with it
    if isinstance(execution, Mapping):
        if "vectorize" in execution:
            out["vectorize"] = bool(execution["vectorize"])
        if kind in ("sweep", "benchmark"):
            out.update({flag: execution[key] for flag, key in (("group-size", "group_size"), ("device", "device"))
                        if execution.get(key) is not None})


def _flags(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "benchmark":
        return _benchmark_flags(spec)
    out: dict[str, Any] = {**task_flags(spec), "optimizers": list(spec["optimizers"])}
    if kind == "sweep":
        out["lr"] = f"{flag_text(float(spec['lr_min']))}..{flag_text(float(spec['lr_max']))}"
        out["points"] = spec["points"]
    if spec.get("epochs") is not None:
        out["epochs"] = spec["epochs"]
    sizes = spec.get("batch_sizes") or ([spec["batch_size"]] if spec.get("batch_size") is not None else [])
    if sizes:
        out["batch-size"] = sizes[0] if len(sizes) == 1 else list(sizes)
    if spec.get("lr") is not None:
        out["lr"] = spec["lr"]
    out["seeds"] = spec.get("seeds", 1)
    out["preset"] = spec.get("preset", "torch")
    if spec.get("schedules"):
        out["schedule"] = list(spec["schedules"])
    grid = spec.get("grid") or {}
    if grid:
        out["hp"] = [f"{name}={','.join(flag_text(v) for v in values)}" for name, values in grid.items()]
    _execution(out, spec, kind)
    return out


def to_toml(kind: str, spec: Mapping[str, Any]) -> str | None:
    """The spec file of a stored ``kind`` experiment (see :func:`flags_of`), headed by the command that runs it;
    None when the kind has none."""
    import tomli_w

    values = flags_of(kind, spec)
    if values is None:
        return None
    return f"# descentlab {kind} --spec THIS_FILE.toml\n" + tomli_w.dumps(values)
