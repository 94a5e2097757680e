"""The workbench from Python (a notebook, a script): :func:`compare`, :func:`sweep`, :func:`lr_find` and
:func:`benchmark`.

Each runs what the command of the same name runs — the same specs, runner, executors, store and report — and
returns a result to look at instead of printing::

    import descentlab
    from descentlab.tasks import custom_task

    task = custom_task("mine", model=MyNet, x_train=x, y_train=y, x_test=xt, y_test=yt)
    result = descentlab.compare(task, optimizers=["sgd", "adam"], seeds=3, store="runs.sqlite")
    result.summary          # one dict per optimizer: the report's summary table
    result.rows             # one dict per (run, epoch): every stored metric
    result.figure()         # loss and accuracy against epochs (a matplotlib Figure)
    result.report("report.html")

The task is a registered name (``"digits-mlp"``), a reference (``"./my_task.py:task"``, ``"pkg.mod:name"``,
``"data.npz"``, ``"data.csv"``), a :class:`~descentlab.tasks.Task` (e.g. from
:func:`~descentlab.tasks.custom_task`), or a pair ``(model, data)``: a network (a module, or a function or class
returning one) and its data (a mapping of ``x_train, y_train, x_test, y_test`` arrays, a tuple of those four in
that order, or an ``.npz`` / ``.csv`` path). Results go to ``store`` (a path, ``":memory:"`` or an open
:class:`~descentlab.store.Store`; default: the command line's store) and running the same call again resumes, as
the commands do.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from descentlab.errors import UserError
from descentlab.experiments.compare import CompareSpec
from descentlab.experiments.executors import make_executor
from descentlab.experiments.runner import open_experiment
from descentlab.experiments.sweep import SweepSpec
from descentlab.store import Store

__all__ = ["BenchmarkResult", "ExperimentResult", "LRFindResult", "benchmark", "compare", "load_experiment", "lr_find",
           "resolve_task", "sweep"]


# -- the task -----------------------------------------------------------------------------------------------------
def resolve_task(task: Any = None, *, model: Any = None, data: Any = None, name: str = "my-task",
                 loss: str | None = None) -> str:
    """The registered name of the task ``task`` (or ``model`` and ``data``) describes, after building, checking
    and registering it (see the module docstring)."""
    from descentlab.tasks import Task, custom_task, data_task, get_task
    from descentlab.tasks.custom import read_data_file
    from descentlab.tasks.external import add

    if isinstance(task, tuple) and len(task) == 2 and model is None and data is None:
        model, data = task
        task = None
    if task is not None:
        if model is not None or data is not None:
            raise UserError("give a task, or a model and its data, not both")
        if isinstance(task, Task):
            return add(task).name
        if isinstance(task, (str, Path)):
            return get_task(str(task)).name
        raise UserError(f"task must be a name, a reference such as './my_task.py:task', a Task or (model, data); "
                        f"got {type(task).__name__}")
    if data is None:
        raise UserError("say what to train on: a task, or model= and data=")
    source = "python"
    if isinstance(data, (str, Path)):
        if model is None:
            return add(data_task(data)).name
        data, source, _ = read_data_file(data)  # your network on the file's arrays as they are
    if model is None:
        raise UserError("data without a model: pass model= (a module, or a function returning one), or give a "
                        "data file alone for the default network")
    if isinstance(data, (tuple, list)):
        from torch.utils.data import DataLoader, Dataset

        pairs = len(data) == 2 and all(isinstance(d, (Dataset, DataLoader)) for d in data)
        if len(data) != 4 and not pairs:
            raise UserError(f"data as a tuple is (x_train, y_train, x_test, y_test), or (train, test) torch datasets "
                            f"of (x, y) pairs; got {len(data)} items")
        data = dict(zip(("x_train", "x_test") if pairs else ("x_train", "y_train", "x_test", "y_test"), data))
    if not isinstance(data, Mapping):
        raise UserError(f"data must be a mapping of arrays, a tuple (x_train, y_train, x_test, y_test) or a file "
                        f"path; got {type(data).__name__}")
    return add(custom_task(name, model=model, data=data, loss=loss, source=source)).name


def _store(store: str | Path | Store | None) -> Store:
    if store is not None and not isinstance(store, (str, Path, Store)):
        raise UserError(f"store must be a path, \":memory:\" or a Store, got {type(store).__name__}")
    return store if isinstance(store, Store) else Store(store)


def _whole(value: Any, what: str, low: int = 1) -> int:
    """``value`` as an int (numpy's integers too), or a UserError naming it."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < low:
        raise UserError(f"{what} must be a whole number ≥ {low}, got {value!r}")
    return number


# -- results ------------------------------------------------------------------------------------------------------
def _table_rows(table: Any) -> list[dict[str, str]]:
    return [dict(zip(table.headers, row)) for row in table.rows]


class _StoredRuns:
    """What every result has: its runs as ``descentlab export --csv`` writes them, whatever its kind."""

    store: Store
    experiment_id: int

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per (run, epoch) — ``pandas.DataFrame(result.rows)`` — as ``descentlab runs --csv`` (every
        tuning and evaluation run of a benchmark)."""
        return self.store.to_records(self.experiment_id)

    def dataframe(self) -> Any:
        """The experiment's runs as a ``pandas.DataFrame`` (one row per run and epoch, the columns of ``descentlab
        export --csv``); needs pandas (``pip install 'descentlab[export]'``), else a UserError saying so."""
        return self.store.to_dataframe(self.experiment_id)


class ExperimentResult(_StoredRuns):
    """A stored ``compare`` or ``sweep`` experiment, read back through the report's code."""

    def __init__(self, store: Store, experiment_id: int) -> None:
        from descentlab.report import data as report_data
        from descentlab.report.html import build_report

        self.store, self.experiment_id = store, experiment_id
        self.data = report_data.load(store, experiment_id)
        self.tables = build_report(self.data, figures=False).tables  # the report's tables, without its figures

    @property
    def kind(self) -> str:
        return self.data.experiment.kind

    @property
    def summary(self) -> list[dict[str, str]]:
        """The headline table, one dict per row: per optimizer (compare), or per optimizer with the learning rate
        chosen on validation (sweep)."""
        return _table_rows(self.tables[1] if self.kind == "sweep" else self.tables[0])

    def figure(self, x: str = "epoch") -> Any:
        """Loss and accuracy curves, mean ± std over seeds, against ``x``: ``"epoch"`` or ``"seconds"``; one curve
        per optimizer and schedule (``adam (cosine)``)."""
        from descentlab.report import plots
        from descentlab.schedules.spec import scheduled_label

        return plots.training_curves(self.data.runs, x, by=lambda r: scheduled_label(r.optimizer, r.schedule))

    def report(self, path: str | Path) -> Path:
        """Write the report: HTML (one self-contained file) or, for a ``.md`` path, Markdown with its PNGs."""
        return _write_report(self.store, self.experiment_id, path)

    def __repr__(self) -> str:
        runs = self.data.runs
        return (f"<descentlab {self.kind} #{self.experiment_id}: {', '.join(self.data.tasks)}, "
                f"{len(runs)} runs of {', '.join(self.data.optimizers)} in {self.store.path}>")


class LRFindResult(_StoredRuns):
    """A stored ``lr-find`` experiment: the suggested range, the curves, the figure, the report
    (:meth:`dataframe`: its runs' epochs as ``export`` writes them; :attr:`rows`: the range test's curves)."""

    def __init__(self, store: Store, experiment_id: int, result: Any) -> None:
        self.store, self.experiment_id, self.result = store, experiment_id, result

    @property
    def suggestion(self) -> Any:
        """The suggested ``lr``, range (``lower``, ``upper``) and the points of the curve they come from."""
        return self.result.suggestion

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per seed and step: lr, loss, smoothed loss."""
        return [{"seed": c.seed, **row} for c in self.result.curves for row in c.epochs()]

    @property
    def summary(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"optimizer": self.result.optimizer, "batch_size": self.result.batch_size,
                **asdict(self.result.suggestion)}

    def figure(self) -> Any:
        from descentlab.report.lr_find_plot import lr_find_figure

        return lr_find_figure(self.result)

    def report(self, path: str | Path) -> Path:
        return _write_report(self.store, self.experiment_id, path)

    def __repr__(self) -> str:
        s = self.result.suggestion
        text = "no suggestion" if s.lr is None else f"suggested lr {s.lr:.3g}, range {s.lower:.3g} … {s.upper:.3g}"
        return f"<descentlab lr-find #{self.experiment_id}: {self.result.optimizer}, {text}>"


class BenchmarkResult(_StoredRuns):
    """A stored ``benchmark`` experiment, read back by the report's own analysis (:mod:`descentlab.report.benchmark`):
    the selection of every budget, the evaluation runs' test numbers and time to target, the profile scores."""

    def __init__(self, store: Store, experiment_id: int) -> None:
        from descentlab.report import benchmark as report_benchmark
        from descentlab.report import data as report_data

        self.store, self.experiment_id = store, experiment_id
        self.data = report_data.load(store, experiment_id)
        self.benchmark = report_benchmark.analyse(self.data)

    def scores(self, budget: int | None = None) -> dict[Any, Any]:
        """The performance-profile score of every optimizer (1 = the fastest to target on every task, 0 = never
        within 4×): at ``budget``, or ``{budget: {optimizer: score}}`` for every budget."""
        if budget is None:
            return {b: self.benchmark.scores(b) for b in self.benchmark.budgets}
        if budget not in self.benchmark.budgets:
            raise UserError(f"budget {budget!r} is not one of this benchmark's: "
                            f"{', '.join(map(str, self.benchmark.budgets))}")
        return self.benchmark.scores(budget)

    @property
    def summary(self) -> list[dict[str, str]]:
        """The scores table, one dict per optimizer (a column per budget), as the report shows it."""
        from descentlab.report import benchmark as report_benchmark

        return _table_rows(report_benchmark.score_table(self.benchmark))

    @property
    def cells(self) -> list[dict[str, Any]]:
        """One dict per (task, optimizer, budget): the selected trial and point, its validation number, the
        evaluation seeds' test values, mean and 95 % interval, updates and seconds to target — ``--json``'s."""
        return self.to_json()["cells"]

    def to_json(self) -> dict[str, Any]:
        """What ``descentlab benchmark --json`` writes."""
        from descentlab.report import benchmark as report_benchmark

        return report_benchmark.to_json(self.benchmark)

    def figure(self) -> Any:
        """The performance profiles, one panel per budget (a matplotlib Figure)."""
        from descentlab.report import benchmark as report_benchmark
        from descentlab.report import style

        return report_benchmark.profile_figure(self.benchmark, style.optimizer_colors(self.benchmark.optimizers))

    def report(self, path: str | Path) -> Path:
        """Write the benchmark's report: HTML, or Markdown with its PNGs for a ``.md`` path."""
        return _write_report(self.store, self.experiment_id, path)

    def __repr__(self) -> str:
        b = self.benchmark
        return (f"<descentlab benchmark #{self.experiment_id}: {', '.join(b.optimizers)} on {', '.join(b.tasks)}, "
                f"budgets {', '.join(map(str, b.budgets))}, in {self.store.path}>")


def _write_report(store: Store, experiment_id: int, path: str | Path) -> Path:
    """The experiment's report (the builder its kind declares, as ``descentlab report``) to ``path``."""
    from descentlab.report import by_kind, html
    from descentlab.report.data import load

    write = html.write_markdown if str(path).lower().endswith(".md") else html.write_html
    html.check_writable(path)
    return write(by_kind.build(store, load(store, experiment_id)), path)


# -- the experiments ----------------------------------------------------------------------------------------------
def _run(kind: str, spec: Any, store: str | Path | Store | None, *, vectorize: bool, fresh: bool
         ) -> ExperimentResult:
    from descentlab.tasks import get_task

    configs = spec.configs()  # every name and value checked before anything runs
    splits = get_task(spec.task).load(data_dir=spec.data_dir, val_fraction=configs[0].val_fraction,
                                      seed=configs[0].data_seed)
    executor = make_executor("local", vectorize=vectorize)
    opened = _store(store)
    experiment_id, todo, _ = open_experiment(opened, kind, spec.to_dict(), configs, fresh=fresh)
    executor.run(todo, store=opened, experiment_id=experiment_id, splits=splits)
    return ExperimentResult(opened, experiment_id)


def _names(optimizers: str | Sequence[str]) -> tuple[str, ...]:
    """``optimizers`` as ``--optimizers`` reads them (a comma-separated text or a list; ``name(k=v,...)`` items keep
    their commas; none, or one twice, is a UserError), by the command's own splitter."""
    from descentlab.optim import external

    if isinstance(optimizers, str):
        return external.items(optimizers)
    if isinstance(optimizers, Sequence) and all(isinstance(o, str) or callable(o) for o in optimizers):
        return external.items(",".join(o if isinstance(o, str) else external.reference_of(o) for o in optimizers))
    raise UserError(f"optimizers must be a name, a comma-separated text or a list of names or optimizer classes, "
                    f"got {optimizers!r}")


def _number(value: Any, what: str) -> float:
    """``value`` as a float (numpy's numbers too), or a UserError naming it; the spec checks its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise UserError(f"{what} must be a number, got {value!r}")
    return float(value)


def _schedules(schedule: str | Sequence[str] | None) -> tuple[str, ...]:
    """A spec's ``schedules`` from one text, a comma-separated list or a sequence of texts (checked here)."""
    from descentlab.schedules.spec import schedule_list

    return tuple(s.label for s in schedule_list(schedule)) if schedule else ()


def compare(task: Any = None, *, model: Any = None, data: Any = None, optimizers: str | Sequence[str] = ("sgd",
            "adam", "rmsprop"), seeds: int = 1, epochs: int | None = None,
            batch_size: int | str | Sequence[int | str] | None = None, lr: float | None = None,
            preset: str = "torch", store: str | Path | Store | None = None, vectorize: bool = True,
            fresh: bool = False, data_dir: str | None = None,
            schedule: str | Sequence[str] | None = None) -> ExperimentResult:
    """``descentlab compare`` from Python: ``optimizers`` side by side on ``task`` (or ``model`` and ``data``),
    each with its preset's hyperparameters (``lr`` for all, if given), ``seeds`` seeds per configuration,
    ``batch_size`` one size or a list (``"full"``, 1, 32…), ``schedule`` one learning-rate schedule or a list
    (``"constant,cosine(warmup_steps=0.1)"``, as ``--schedule``)."""
    sizes = None if batch_size is None else tuple(batch_size) if isinstance(batch_size, (list, tuple)) \
        else (batch_size,)
    spec = CompareSpec(task=resolve_task(task, model=model, data=data), optimizers=_names(optimizers),
                       epochs=epochs, batch_sizes=sizes, lr=None if lr is None else _number(lr, "lr"),
                       seeds=_whole(seeds, "seeds"), preset=preset, data_dir=data_dir,
                       schedules=_schedules(schedule))
    return _run("compare", spec, store, vectorize=vectorize, fresh=fresh)


def sweep(task: Any = None, *, model: Any = None, data: Any = None,
          optimizers: str | Sequence[str] = ("sgd", "momentum", "adam"), lr: tuple[float, float] = (1e-4, 1.0),
          points: int = 8, seeds: int = 1, epochs: int | None = None, batch_size: int | str | None = None,
          grid: Mapping[str, Sequence[Any]] | None = None, preset: str = "torch",
          store: str | Path | Store | None = None, vectorize: bool = True, fresh: bool = False,
          data_dir: str | None = None, schedule: str | Sequence[str] | None = None) -> ExperimentResult:
    """``descentlab sweep`` from Python: each optimizer over ``points`` log-spaced learning rates in ``lr``
    (× ``grid``, e.g. ``{"momentum": [0.8, 0.9]}``, × ``schedule``, as ``--schedule``, × seeds), the rate chosen
    on validation."""
    if not (isinstance(lr, (tuple, list)) and len(lr) == 2):
        raise UserError(f"lr must be a pair (low, high), got {lr!r}")
    spec = SweepSpec(task=resolve_task(task, model=model, data=data), optimizers=_names(optimizers),
                     lr_min=_number(lr[0], "lr"), lr_max=_number(lr[1], "lr"), points=points,
                     seeds=_whole(seeds, "seeds"), epochs=epochs,
                     batch_size=batch_size, preset=preset,
                     grid=tuple((k, tuple(v)) for k, v in (grid or {}).items()), data_dir=data_dir,
                     schedules=_schedules(schedule))
    return _run("sweep", spec, store, vectorize=vectorize, fresh=fresh)


def load_experiment(experiment: int | str = "last", store: str | Path | Store | None = None
                    ) -> ExperimentResult | BenchmarkResult | LRFindResult:
    """A stored experiment (an id or ``"last"``) of ``store`` (default: the command line's), read back: a
    :class:`BenchmarkResult` for a benchmark, an :class:`LRFindResult` for an lr-find (its result rebuilt from the
    stored curves, as the report does), else an :class:`ExperimentResult` — ``load_experiment(3).dataframe()`` is its
    runs as a ``pandas.DataFrame``. Only reads: a store that does not exist is an error, not a new empty one."""
    from descentlab.store import default_store_path

    if not isinstance(store, Store):
        path = Path(store or default_store_path())
        if not path.is_file():
            raise UserError(f"no results store at {path}")
        store = Store(path, read_only=True)
    from descentlab.kinds import layout_of

    found = store.experiment(experiment)
    layout = layout_of(found.kind)
    if layout == "lr-range":
        from descentlab.report.lr_find_report import load

        return LRFindResult(store, found.id, load(store, found.id))
    return (BenchmarkResult if layout == "benchmark" else ExperimentResult)(store, found.id)


def lr_find(task: Any = None, *, model: Any = None, data: Any = None, optimizer: str = "adam", seeds: int = 3,
            start: float = 1e-7, end: float = 10.0, steps: int = 100, batch_size: int | str | None = None,
            preset: str = "torch", store: str | Path | Store | None = None, data_dir: str | None = None,
            check_steps: int = 400) -> LRFindResult:
    """``descentlab lr-find`` from Python: the learning-rate range test of ``optimizer`` over ``seeds`` seeds,
    checked by short runs of ``check_steps`` updates at constant rates around its suggestion (0: no check), and
    the suggested range (``result.suggestion``)."""
    from descentlab.environment import environment
    from descentlab.experiments import lr_find as lf

    if not isinstance(optimizer, str) and not callable(optimizer):
        raise UserError(f"optimizer must be one name (e.g. 'adam'), got {optimizer!r}")
    items = _names(optimizer if isinstance(optimizer, str) else [optimizer])  # as compare reads its optimizers
    if len(items) != 1:
        raise UserError(f"optimizer {optimizer!r}: lr_find tests one optimizer at a time")
    spec = lf.LRFindSpec(task=resolve_task(task, model=model, data=data), optimizer=items[0],
                         seeds=_whole(seeds, "seeds"), start=start, end=end, steps=steps, batch_size=batch_size,
                         preset=preset, data_dir=data_dir, check_steps=check_steps)
    spec.resolve()  # every name and value checked before anything runs
    opened = _store(store)
    result, experiment_id = lf.run(spec, store=opened, env=environment())
    return LRFindResult(opened, experiment_id, result)


def benchmark(tasks: Any = ("digits-mlp", "mnist1d-mlp"), *,
              optimizers: str | Sequence[str] = ("sgd", "nesterov", "adam", "rmsprop"),
              budget: int | Sequence[int] = (1, 8), seeds: int = 3, epochs: int | None = None, preset: str = "torch",
              search_seed: int = 0, store: str | Path | Store | None = None, vectorize: bool = True,
              fresh: bool = False, data_dir: str | None = None) -> BenchmarkResult:
    """``descentlab benchmark`` from Python (``docs/benchmark.md`` is the protocol): every optimizer gets the same
    ``budget`` of tuning trials on every task (trial 0 its defaults, then a quasi-random search; several budgets,
    increasing, are prefixes of one sequence), the trial selected on validation is re-run at ``seeds`` fresh
    seeds, and the optimizers are scored by performance profiles. ``tasks``: one task or a list, each as
    :func:`compare` takes it (a name, a reference, a :class:`~descentlab.tasks.Task`); ``optimizers`` as
    ``--optimizers`` (names, ``file.py:Class`` references, ``name(k=v)``). The same call again resumes."""
    from descentlab.experiments import benchmark as bench

    def is_pair(t: Any) -> bool:  # (model, data): a model is callable, a task name is not
        return isinstance(t, tuple) and len(t) == 2 and callable(t[0])

    # one task (a name, a reference, a Task, a pair) or a list of them
    one = isinstance(tasks, (str, Path)) or not isinstance(tasks, Sequence) or is_pair(tasks)
    task_list = [tasks] if one else list(tasks)
    if not task_list:
        raise UserError("tasks is empty; give one task or a list")
    pairs = 0
    names = []
    for t in task_list:  # several (model, data) pairs: my-task, my-task-2, … (one name each)
        pairs += is_pair(t)
        names.append(resolve_task(t, name="my-task" if pairs <= 1 else f"my-task-{pairs}") if is_pair(t)
                     else resolve_task(t))
    items = _names(optimizers)
    several = isinstance(budget, Iterable) and not isinstance(budget, (str, bytes))
    budgets = tuple(_whole(b, "budget") for b in (budget if several else [budget]))
    spec = bench.BenchmarkSpec(tasks=tuple(names), optimizers=items, budgets=budgets, seeds=_whole(seeds, "seeds"),
                               epochs=None if epochs is None else _whole(epochs, "epochs"), preset=preset,
                               search_seed=_whole(search_seed, "search_seed", 0), data_dir=data_dir)
    spec.check()
    prepared = bench.prepare(spec)  # the data loaded and the batch sizes checked before the store is made
    opened = _store(store)
    experiment_id, _ = bench.run(spec, opened, make_executor("local", vectorize=vectorize), fresh=fresh,
                                 prepared=prepared)
    return BenchmarkResult(opened, experiment_id)
