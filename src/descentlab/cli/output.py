"""Console output shared by the training commands: progress bar, Keras-like epoch lines, tables."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from descentlab.errors import UserError
from descentlab.experiments.runner import Trial
from descentlab.files import write_atomic
from descentlab.jsonable import to_json_data
from descentlab.schedules.spec import scheduled_label
from descentlab.train import Callback, RunConfig, RunResult


def progress_bar(console: Console, unit: str = "epochs") -> Progress:
    """A transient bar: description, ``done/total unit``, elapsed and remaining time."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                    transient=True)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def shown(epoch: int, epochs: int) -> bool:
    """Every epoch of a short run; about ten lines (and the last epoch) of a long one."""
    every = 1 if epochs <= 20 else -(-epochs // 10)
    return epoch == 1 or epoch == epochs or epoch % every == 0


def epoch_line(label: str, epoch: int, epochs: int, m: dict[str, Any]) -> str:
    return (f"{label}  epoch {epoch}/{epochs} - {m['seconds']:.2f}s - {m['steps_per_s']:.0f} steps/s"
            f" - loss: {_fmt(m['train_loss'])} - accuracy: {_fmt(m['train_acc'])}"
            f" - val_loss: {_fmt(m['val_loss'])} - val_accuracy: {_fmt(m['val_acc'])}")


def diverged_line(label: str, result: RunResult) -> str:
    if result.status == "failed":
        return f"{label}  [red]failed[/]: {escape(result.error or '')}; the other runs go on"
    return (f"{label}  [red]diverged[/] at step {result.diverged_step} (loss non-finite, or over 100× its start); "
            "the other runs go on")


class EpochPrinter(Callback):
    """Keras-like epoch lines (thinned for long runs) for a run trained live, and the progress bar advanced."""

    def __init__(self, console: Console, progress: Progress, bar: Any, trial: Trial, label: str,
                 verbose: bool = True) -> None:
        self.console, self.progress, self.bar, self.trial, self.label = console, progress, bar, trial, label
        self.verbose = verbose

    def on_run_start(self, config: RunConfig) -> None:
        self.progress.update(self.bar, description=self.label)

    def on_epoch_end(self, epoch: int, m: dict[str, Any]) -> None:
        self.progress.advance(self.bar)
        epochs = self.trial.config.epochs
        if self.verbose and shown(epoch, epochs):
            self.console.print(epoch_line(self.label, epoch, epochs, m), highlight=False)

    def on_run_end(self, result: RunResult) -> None:
        if result.status in ("diverged", "failed"):
            self.progress.advance(self.bar, self.trial.config.epochs - len(result.epochs))
            self.console.print(diverged_line(self.label, result))


def print_finished_run(console: Console, label: str, result: RunResult, verbose: bool = True) -> None:
    """The same lines for a run that trained in a vectorized group and came back whole."""
    epochs = result.config.epochs
    if verbose:
        for m in result.epochs:
            if shown(m["epoch"], epochs):
                console.print(epoch_line(label, m["epoch"], epochs, m), highlight=False)
    if result.status in ("diverged", "failed"):
        console.print(diverged_line(label, result))


def label_of(config: RunConfig, *, batch: bool, seed: bool) -> str:
    """``adam``, ``sgd(lr=0.1) (cosine) bs=32 seed=1``: the optimizer as the tables name it (its display name:
    the hyperparameters the user gave, a foreign optimizer's label), its schedule's label, then what tells runs
    apart."""
    parts = [scheduled_label(config.display_name, getattr(config.schedule, "label", None))]
    if batch:
        parts.append(f"bs={config.batch_size}")
    if seed:
        parts.append(f"seed={config.seed}")
    return " ".join(parts)


def print_table(console: Console, table: Any) -> None:
    """Print a :class:`descentlab.report.tables.Table` (its brief columns) with rich."""
    from descentlab.report.tables import rich_table

    console.print(rich_table(table, width=console.width))


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` (atomically), or to standard output when ``path`` is ``-``."""
    if str(path) == "-":
        sys.stdout.write(json.dumps(to_json_data(payload, default=str), indent=2, allow_nan=False) + "\n")
        sys.stdout.flush()
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write --json {path}: {exc.strerror or exc}") from None
    write_atomic(path, json.dumps(to_json_data(payload, default=str), indent=2, allow_nan=False) + "\n", "--json")


def experiment_json(store: Any, experiment_id: int, groups: Sequence[Any]) -> dict[str, Any]:
    """The ``--json`` summary: one entry per run and one per optimizer group."""
    from dataclasses import asdict

    runs = []
    for run in store.runs(experiment_id):
        runs.append({"run_id": run.id, "optimizer": run.optimizer, "seed": run.seed, "status": run.status,
                     "diverged_step": run.diverged_step, "config": run.config, "summary": run.summary})
    return to_json_data({"experiment_id": experiment_id, "store": str(store.path), "runs": runs,
                         "optimizers": [asdict(g) for g in groups]}, default=str)


def print_compare_summary(console: Console, groups: Sequence[Any]) -> None:
    """The resolved hyperparameters, one line per group, then the report's summary table."""
    from descentlab.report.tables import hyperparameter_text, summary_table

    many_batches = len({g.batch_size for g in groups}) > 1
    console.print("[bold]Resolved hyperparameters[/]")
    for g in groups:
        batch = f" (batch {g.batch_size})" if many_batches else ""
        schedule = f", schedule {g.schedule}" if g.schedule else ""
        console.print(escape(f"  {g.optimizer}{batch}: {hyperparameter_text(g.hyperparameters)}{schedule}"),
                      highlight=False)
    print_table(console, summary_table(groups))


def make_console(stderr: bool = False) -> Console:
    """A console that is wide enough for the tables also when the output goes to a file or a pipe; on standard
    error with ``stderr`` (when ``--json -`` keeps standard output for the JSON alone)."""
    console = Console(highlight=False, emoji=False, stderr=stderr)
    return console if console.is_terminal else Console(highlight=False, emoji=False, width=160, stderr=stderr)


def print_solo_note(console: Console, configs: Sequence[RunConfig], vectorize: bool) -> None:
    """Say once which optimizers train one run at a time although vectorizing is on, and why (an optimizer that is
    not a descentlab rule, or a rule that keeps per-group state)."""
    if not vectorize:
        return
    from descentlab.train.vectorized import unsupported_reason

    reasons = {c.display_name: reason for c in configs if (reason := unsupported_reason(c))}
    for name, reason in reasons.items():
        console.print(f"[yellow]{escape(name)}[/]: one run at a time, not vectorized ({escape(reason)}); "
                      "docs/bring-your-own.md says how to write it as a descentlab rule", highlight=False)


def stored_line(experiment_id: int, path: Any) -> str:
    """Where the experiment was stored, and the command that makes its report — with ``--store`` when the store is
    not the one ``report`` finds by itself, so that the line can be copied as it is (the path escaped: ``[`` is
    rich markup)."""
    import shlex

    from descentlab.store import default_store_path

    store = "" if str(path) == str(default_store_path()) else f" --store {shlex.quote(str(path))}"
    return (f"Stored as experiment {experiment_id} in {escape(str(path))}\n"
            f"Report: descentlab report {experiment_id}{escape(store)} --html report.html")


def waiting_note(console: Console) -> Any:
    """``on_wait`` for the executors: say once which trials another process trains and that we wait for them."""
    def note(trials: Sequence[Trial], holder: str) -> None:
        who = ", ".join(f"pid {p[1]} on {p[0]}" if len(p) == 3 else o
                        for o in holder.split(", ") for p in [o.rsplit(":", 2)])
        console.print(f"note: {len(trials)} trial(s) are being trained by another process ({escape(who)}); "
                      "waiting for them (a stale claim is taken over)", highlight=False)

    return note


def print_outcome(console: Console, outcome: Any) -> None:
    """What the executor did besides training, when it was not everything: finished or waited for elsewhere."""
    if outcome.finished_elsewhere or outcome.waited:
        console.print(f"note: trained {outcome.trained} trial(s) here; {outcome.finished_elsewhere + outcome.waited} "
                      "were trained by another process on the same store", highlight=False)
