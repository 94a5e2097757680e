"""Flat exports of the store: one record per (run, epoch), for CSV and Parquet files and ``pandas.DataFrame``.

Columns, in order: ``experiment_id, experiment_kind, experiment_name, run_id, trial_key, task, optimizer, seed,
status, diverged_step, epoch``, then the run's config flattened with dotted names (``config.optimizer.lr``),
then the epoch's metrics under their own names (``val_loss``; a metric whose name is taken gets ``metrics.``
in front). Every record has every column, ``None`` where a run has no such value. A run with no epochs (it
failed or diverged before the first one ended) still has one record, with ``epoch`` None, so nothing is hidden.

The CSV needs the standard library only; the DataFrame needs ``pandas`` and Parquet also ``pyarrow`` (the
``export`` extra), imported only when asked for: without them, a one-line error says what to install.
"""

from __future__ import annotations

import csv
import importlib
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from descentlab.files import atomic_path
from descentlab.store.keys import canonical_json, from_json

RUN_COLUMNS = (
    "experiment_id", "experiment_kind", "experiment_name", "run_id", "trial_key", "task", "optimizer", "seed",
    "status", "diverged_step", "epoch",
)  # fmt: skip

_QUERY = """
SELECT r.experiment_id, e.kind, e.name, r.id, r.trial_key, r.task, r.optimizer, r.seed, r.status,
       r.diverged_step, p.epoch, r.config_json, p.metrics_json
FROM runs r JOIN experiments e ON e.id = r.experiment_id LEFT JOIN epochs p ON p.run_id = r.id
{where}
ORDER BY r.experiment_id, r.id, p.epoch
"""


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [2]}`` -> ``{"a.b": 1, "c": [2]}`` (lists stay whole)."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def records(conn: sqlite3.Connection, experiment_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The (run, epoch) records of the given experiments (all when None), in experiment, run, epoch order."""
    where = ""
    params: tuple[int, ...] = ()
    if experiment_ids is not None:
        where = f"WHERE r.experiment_id IN ({', '.join('?' * len(experiment_ids))})"
        params = tuple(experiment_ids)
    rows = []
    for *fixed, config_json, metrics_json in conn.execute(_QUERY.format(where=where), params):
        row = dict(zip(RUN_COLUMNS, fixed))
        row.update(flatten(from_json(config_json), "config."))
        for name, value in (from_json(metrics_json) or {}).items():
            row[f"metrics.{name}" if name in row else name] = value
        rows.append(row)
    columns = _columns(rows)
    return [{column: row.get(column) for column in columns} for row in rows]


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    columns: dict[str, None] = dict.fromkeys(RUN_COLUMNS)
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return canonical_json(value)
    return value  # floats as repr: nan, inf and -inf read back with float()


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write records to ``path`` (header = every column; an empty export still has the header).

    The file is written next to ``path`` under a temporary name and renamed into place, so an interrupted
    export never leaves a truncated CSV where a good one was.
    """
    columns = _columns(rows)
    with atomic_path(path) as part, open(part, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])


def optional(module: str, what: str) -> Any:
    """Import ``module`` (a package of the ``export`` extra) for ``what``, or a UserError saying how to get it."""
    from descentlab.errors import UserError

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != module.split(".")[0]:
            raise
        raise UserError(f"{what} needs {module.split('.')[0]!r}, which is not installed: "
                        "pip install 'descentlab[export]'") from None


def dataframe(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The records as a ``pandas.DataFrame``: one row per (run, epoch), the columns of :func:`records` in order
    (values as stored: lists stay lists, None is missing)."""
    pandas = optional("pandas", "a DataFrame of the store")
    return pandas.DataFrame(list(rows), columns=_columns(rows))


def _parquet_column(values: Any) -> Any:
    """A column Parquet can hold: nested values as their JSON text (as in the CSV); a column mixing text with
    numbers (``batch_size`` full and 32) as text; None stays missing."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, (list, dict)) for v in present):
        return [None if v is None else (canonical_json(v) if isinstance(v, (list, dict)) else str(v)) for v in values]
    kinds = {bool if isinstance(v, bool) else str if isinstance(v, str) else float for v in present}
    if len(kinds) > 1:
        return [None if v is None else str(v) for v in values]
    return values


def write_parquet(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the records to a Parquet file (pyarrow), through a temporary name as :func:`write_csv`."""
    optional("pyarrow", "a Parquet export")
    frame = dataframe(rows)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = _parquet_column(list(frame[column]))
    with atomic_path(path) as part:
        frame.to_parquet(part, engine="pyarrow", index=False)
