"""``benchmark``: every optimizer tuned with the same budget on every task, the selected configuration re-run over
seeds — the protocol of ``docs/benchmark.md``.

:class:`BenchmarkSpec` is what the user asked for. Its trials come in two phases, both stored in ONE experiment:

1. **Tuning** (:meth:`BenchmarkSpec.tuning_configs`): per task and optimizer, the first ``max(budgets)`` points
   of one search sequence (:meth:`BenchmarkSpec.points`), each trained once at seed :data:`TUNING_SEED`. Point 0
   is the optimizer's defaults (the preset's, with what the item gives: ``adam(eps=1e-6)``); points 1, 2, … are a
   scrambled Sobol sequence (``torch.quasirandom.SobolEngine``, seeded by ``search_seed``) mapped through the
   search space (:data:`SEARCH_SPACE`). A sequence depends on the optimizer's tuned dimensions and the seed only,
   so the same command gives the same trials, and a budget's trials are a prefix of a larger budget's.
2. **Evaluation** (:meth:`BenchmarkSpec.evaluation_configs`): per task, optimizer and budget, the tuning trial
   selected on validation among the budget's prefix (:func:`descentlab.scoring.select`, read from the store by
   :func:`selected`) re-run at the fresh seeds ``1 … seeds`` (the tuning seed 0 is left out, so the reported
   test numbers carry no selection bias). Budgets that select the same trial share its evaluation runs.

The evaluation trials are a function of the stored tuning results, which are a function of their configurations
(and of the execution, part of the experiment's identity): a resumed benchmark selects the same trials and trains
the same evaluation runs. Reading a benchmark back is the report's (:mod:`descentlab.report.benchmark`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from descentlab import optim
from descentlab.errors import UserError
from descentlab.experiments.presets import get_preset
from descentlab.experiments.runner import Trial
from descentlab.experiments.sweep import round_sig
from descentlab.grid import apply, extras_of, has
from descentlab.optim import external
from descentlab.scoring import R_MAX, select, selection_value
from descentlab.tasks import get_task
from descentlab.train import RunConfig

TUNING_SEED = 0
MAX_BUDGET = 1024


@dataclass(frozen=True)
class Param:
    """One dimension of the search space. ``scale``: ``"log"`` — log-uniform on [low, high]; ``"one-minus-log"``
    — ``1 − x`` log-uniform on [1 − high, 1 − low] (momenta and averaging constants, whose distance to 1 is what
    matters). A hyperparameter is tuned when the optimizer has it and its default lies in [low, high]: a default
    outside (momentum 0 of ``sgd``, which would make it another optimizer) stays fixed."""

    name: str  # a grid name (descentlab.grid): beta1 / beta2 set one element of betas
    low: float
    high: float
    scale: Literal["log", "one-minus-log"] = "log"

    def value(self, u: float) -> float:
        """The value at ``u`` ∈ [0, 1) of the unit interval, 4 significant digits."""
        if self.scale == "log":
            return round_sig(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        lo, hi = math.log(1 - self.high), math.log(1 - self.low)
        return round_sig(1 - math.exp(lo + u * (hi - lo)))

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high)

    def describe(self) -> str:
        if self.scale == "log":
            return f"{self.name} log-uniform on [{self.low:g}, {self.high:g}]"
        return f"{self.name}: 1 − {self.name} log-uniform on [{1 - self.high:.4g}, {1 - self.low:.4g}]"


SEARCH_SPACE = (
    Param("lr", 1e-4, 1.0),
    Param("momentum", 0.5, 0.999, "one-minus-log"),
    Param("beta1", 0.5, 0.999, "one-minus-log"),
    Param("beta2", 0.8, 0.9999, "one-minus-log"),
    Param("alpha", 0.8, 0.9999, "one-minus-log"),  # RMSprop's averaging constant
)


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark; the constructor only stores, :meth:`check` validates."""

    tasks: tuple[str, ...] = ("digits-mlp", "mnist1d-mlp")
    optimizers: tuple[str, ...] = ("sgd", "nesterov", "adam", "rmsprop")
    budgets: tuple[int, ...] = (1, 8)
    seeds: int = 3
    epochs: int | None = None
    preset: str = "torch"
    search_seed: int = 0
    data_dir: str | None = None

    @property
    def max_budget(self) -> int:
        return max(self.budgets)

    def check(self) -> None:
        """Every name and number, before anything trains (UserError naming the bad value)."""
        if not self.tasks:
            raise UserError("--tasks is empty; give a comma-separated list")
        if len(set(self.tasks)) != len(self.tasks):
            raise UserError(f"--tasks {','.join(self.tasks)} names a task twice")
        for task in self.tasks:
            get_task(task)
        if not self.optimizers:
            raise UserError("--optimizers is empty; give a comma-separated list")
        if not self.budgets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.budgets):
            raise UserError(f"--budget {','.join(map(str, self.budgets))}: each budget must be a whole number ≥ 1")
        if self.max_budget > MAX_BUDGET:
            raise UserError(f"--budget {self.max_budget} is more than {MAX_BUDGET} trials")
        if list(self.budgets) != sorted(set(self.budgets)):
            raise UserError(f"--budget {','.join(map(str, self.budgets))}: give increasing budgets, each once")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise UserError(f"--seeds {self.seeds!r} must be a whole number ≥ 1")
        if isinstance(self.search_seed, bool) or not isinstance(self.search_seed, int) or self.search_seed < 0:
            raise UserError(f"--search-seed {self.search_seed!r} must be a whole number ≥ 0")
        get_preset(self.preset)
        names = [self.name(item) for item in self.optimizers]
        if len(set(names)) != len(names):
            raise UserError(f"--optimizers {','.join(self.optimizers)} names an optimizer twice")

    def _item(self, item: str) -> tuple[optim.Entry, dict[str, Any], dict[str, Any]]:
        """An item of ``optimizers``: its entry, its starting values (the preset's, then the item's) and its
        resolved hyperparameters."""
        ref, given = external.parse_item(item)
        entry = optim.get(ref)
        base = {**get_preset(self.preset).overrides(entry.name), **given}
        return entry, base, entry.hyperparameters(base)

    def name(self, item: str) -> str:
        """How the store and tables name the optimizer of ``item`` (the run's display name)."""
        entry, _, _ = self._item(item)
        given = external.parse_item(item)[1]
        return external.format_item(entry.name, given) if given else entry.name

    def space(self, item: str) -> tuple[Param, ...]:
        """The dimensions tuned for ``item``: those of :data:`SEARCH_SPACE` it has with a default inside."""
        _, _, resolved = self._item(item)
        return tuple(p for p in SEARCH_SPACE
                     if has(resolved, p.name) and p.contains(extras_of(resolved, [p.name]).get(p.name)))

    def points(self, item: str) -> list[dict[str, float]]:
        """The search sequence of ``item``, ``max(budgets)`` long: its defaults, then Sobol points (module)."""
        _, _, resolved = self._item(item)
        space = self.space(item)
        names = [p.name for p in space]
        out = [{name: float(v) for name, v in extras_of(resolved, names).items()}]
        if self.max_budget > 1 and space:
            engine = torch.quasirandom.SobolEngine(len(space), scramble=True, seed=self.search_seed)
            for u in engine.draw(self.max_budget - 1, dtype=torch.float64).tolist():
                out.append({p.name: p.value(x) for p, x in zip(space, u)})
        return out

    def config(self, task: str, item: str, point: Mapping[str, float], seed: int) -> RunConfig:
        """The run of ``item`` on ``task`` at the search point ``point`` (grid names) and ``seed``."""
        entry, base, resolved = self._item(item)
        preset, t = get_preset(self.preset), get_task(task)
        given = external.parse_item(item)[1]
        return RunConfig.build(t, entry.name, apply(dict(base), resolved, point), epochs=self.epochs,
                               batch_size=preset.batch_size or t.default_batch_size, seed=seed, init=preset.init,
                               label=external.format_item(entry.name, given) if given else None)

    def tuning_configs(self, task: str | None = None) -> list[RunConfig]:
        """The tuning trials (of one task, or all), in the order task → optimizer → point."""
        return [self.config(t, item, point, TUNING_SEED)
                for t in ((task,) if task else self.tasks) for item in self.optimizers for point in self.points(item)]

    def evaluation_configs(self, chosen: Mapping[tuple[str, str, int], int | None], task: str | None = None
                           ) -> list[RunConfig]:
        """The evaluation runs of the ``chosen`` tuning trials (``(task, item, budget) → point index``, None: none
        could be selected): each at seeds 1 … ``seeds``, in the order task → optimizer → budget → seed, each
        configuration once."""
        out: dict[str, RunConfig] = {}
        for t in ((task,) if task else self.tasks):
            for item in self.optimizers:
                points = self.points(item)
                for budget in self.budgets:
                    index = chosen.get((t, item, budget))
                    if index is None:
                        continue
                    for seed in range(1, self.seeds + 1):
                        config = self.config(t, item, points[index], seed)
                        out.setdefault(Trial.of(config).key, config)
        return list(out.values())

    def to_dict(self) -> dict[str, Any]:
        """What is stored with the experiment: the request, the protocol's constants, the search space and the
        search sequence of every optimizer, and per task its metric and target (the report reads all of these
        from here; it never looks a task or an optimizer up)."""
        tasks = {}
        for name in self.tasks:
            t = get_task(name)
            tasks[name] = {"metric": t.metric, "target": t.target_val_loss if t.metric == "loss" else t.target_val_acc,
                           "epochs": self.epochs or t.default_epochs,
                           "batch_size": get_preset(self.preset).batch_size or t.default_batch_size}
        return {
            "tasks": list(self.tasks), "optimizers": list(self.optimizers), "budgets": list(self.budgets),
            "seeds": self.seeds, "epochs": self.epochs, "preset": self.preset, "search_seed": self.search_seed,
            "tuning_seed": TUNING_SEED, "evaluation_seeds": list(range(1, self.seeds + 1)), "r_max": R_MAX,
            "names": {item: self.name(item) for item in self.optimizers},
            "space": {item: [p.describe() for p in self.space(item)] for item in self.optimizers},
            "search": {item: self.points(item) for item in self.optimizers},
            "task_info": tasks,
        }  # data_dir left out: where the data lives does not change the experiment


def selected(spec: BenchmarkSpec, runs: Sequence[Any], task: str | None = None
             ) -> dict[tuple[str, str, int], int | None]:
    """Per (task, item, budget), the index of the tuning point selected on validation from the stored ``runs``
    (store rows: ``trial_key``, ``status``, ``summary``); a trial not finished yet counts as not selectable."""
    by_key = {run.trial_key: run for run in runs}
    out: dict[tuple[str, str, int], int | None] = {}
    for t in ((task,) if task else spec.tasks):
        metric = get_task(t).metric
        for item in spec.optimizers:
            values = []
            for point in spec.points(item):
                run = by_key.get(Trial.of(spec.config(t, item, point, TUNING_SEED)).key)
                values.append(selection_value(run.status, run.summary, metric) if run is not None else None)
            for budget in spec.budgets:
                out[(t, item, budget)] = select(values, budget, lower_is_better=metric == "loss")
    return out



@dataclass
class Opened:
    """What :func:`run` tells its caller once the experiment is open, before anything trains."""

    experiment_id: int
    tuning_trials: int  # the tuning phase's trials
    already: int  # runs already finished in the store (a resumed benchmark)


@dataclass
class Prepared:
    """What :func:`run` needs before it opens the experiment (:func:`prepare`): every task's tuning trials and
    data, and the spec as stored (with the data's fingerprints and a user's task's identity)."""

    tuning: dict[str, list[RunConfig]]
    splits: dict[str, Any]
    stored_spec: dict[str, Any]


def prepare(spec: BenchmarkSpec) -> Prepared:
    """Every name, value and batch size of ``spec`` checked and every task's data loaded (UserError naming the bad
    value): callers do this before they create the store, so that bad input leaves no file behind."""
    from descentlab.data.fingerprint import fingerprint
    from descentlab.tasks.external import identity
    from descentlab.validation import check_batch_sizes

    tuning = {task: spec.tuning_configs(task) for task in spec.tasks}  # every name and value checked here
    splits = {}
    for task, configs in tuning.items():
        splits[task] = get_task(task).load(data_dir=spec.data_dir, val_fraction=configs[0].val_fraction,
                                           seed=configs[0].data_seed)
        check_batch_sizes({c.batch_size for c in configs}, splits[task].x_train.shape[0])
    stored_spec = {**spec.to_dict(), "datasets": {task: fingerprint(s) for task, s in splits.items()}}
    users = {task: identity(get_task(task)) for task in spec.tasks}
    if any(users.values()):  # a user's task: where it came from and its fingerprints are part of the identity
        stored_spec["task_identity"] = users
    return Prepared(tuning, splits, stored_spec)


def run(spec: BenchmarkSpec, store: Any, executor: Any, *, fresh: bool = False, prepared: Prepared | None = None,
        on_opened: Callable[[Opened], None] | None = None,
        on_evaluation: Callable[[int], None] | None = None,
        on_result: Callable[[str, Trial, Any], None] | None = None,
        on_wait: Callable[[Sequence[Trial], str], None] | None = None) -> tuple[int, Any]:
    """Run the benchmark ``spec`` into ``store`` with ``executor`` (``experiments.executors``): both phases of the
    module docstring, in one experiment; resumes what the store already holds. The one implementation behind
    ``descentlab benchmark`` and ``descentlab.benchmark(...)``.

    ``prepared``: :func:`prepare`'s result for ``spec`` (made here when not given; a caller that creates the store
    prepares first, so that bad input leaves no file). ``on_opened`` hears the experiment's id and size,
    ``on_evaluation`` the number of evaluation runs once the selections are made, ``on_result(phase, trial,
    result)`` each finished run (``phase``: ``"tune"`` or ``"eval"``), ``on_wait`` the trials another process is
    training. Returns ``(experiment_id, outcome)``: the executors' ``Outcome`` of both
    phases together."""
    from descentlab.experiments.runner import open_experiment, unique_trials

    prepared = prepared if prepared is not None else prepare(spec)
    tuning, splits, stored_spec = prepared.tuning, prepared.splits, prepared.stored_spec
    opened = open_experiment(store, "benchmark", stored_spec, [c for cs in tuning.values() for c in cs],
                             fresh=fresh, execution=executor.identity())
    eid = opened.experiment_id
    if on_opened is not None:
        on_opened(Opened(eid, len(opened.trials), len(store.completed_trial_keys(eid))))

    def heard(phase: str) -> Callable[[Trial, Any], None]:
        return (lambda trial, result: None) if on_result is None else (
            lambda trial, result: on_result(phase, trial, result))

    waiting = {} if on_wait is None else {"on_wait": on_wait}
    outcomes = [executor.run(unique_trials(tuning[task]), store=store, experiment_id=eid, splits=splits[task],
                             on_result=heard("tune"), **waiting) for task in spec.tasks]
    chosen = selected(spec, store.runs(eid))
    evaluation = {task: unique_trials(spec.evaluation_configs(chosen, task)) for task in spec.tasks}
    if on_evaluation is not None:
        on_evaluation(sum(map(len, evaluation.values())))
    outcomes += [executor.run(trials, store=store, experiment_id=eid, splits=splits[task],
                              on_result=heard("eval"), **waiting) for task, trials in evaluation.items() if trials]
    total = outcomes[0]
    for outcome in outcomes[1:]:
        total.trained += outcome.trained
        total.finished_elsewhere += outcome.finished_elsewhere
        total.waited += outcome.waited
        total.holders |= outcome.holders
    return eid, total
