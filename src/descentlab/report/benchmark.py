"""A benchmark read back from the store: the selection of every budget, the evaluation runs' test numbers and time
to target with confidence intervals, the performance profiles and their scores, the pairwise verdicts — then the
tables, the two figures and the report.

Everything is read from the store: the experiment's spec holds the search sequences (``search``), the tuned
dimensions (``space``), the budgets, seeds and each task's metric and target (``task_info``); a tuning run is found
by its task, optimizer, the tuning seed and its values of the tuned dimensions (:func:`descentlab.grid.extras_of`),
an evaluation run as a run of the selected configuration at another seed. The arithmetic is
:mod:`descentlab.scoring`'s, the same the experiment selected with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descentlab import scoring
from descentlab.grid import extras_of
from descentlab.report import plots, style
from descentlab.report.data import ExperimentData, RunData
from descentlab.report.html import Figure, Report
from descentlab.report.tables import Table, environment_table
from descentlab.scoring import Interval

TAUS = np.linspace(1.0, scoring.R_MAX, 301)


@dataclass(frozen=True)
class Cell:
    """One optimizer on one task at one budget: the selected tuning trial and its evaluation over seeds."""

    task: str
    optimizer: str  # the display name
    budget: int
    index: int | None  # the selected point of the search sequence; None: no tuning trial completed
    point: dict[str, float]
    val: float | None  # the selected trial's validation number
    runs: list[RunData] = field(default_factory=list)  # the evaluation runs
    test: Interval = field(default_factory=lambda: scoring.t_interval([]))
    test_values: list[float | None] = field(default_factory=list)
    steps: list[float | None] = field(default_factory=list)  # per evaluation seed; None: never reached the target
    seconds: list[float | None] = field(default_factory=list)

    @property
    def time(self) -> float:
        """Median updates to target over the evaluation seeds (``inf``: not reached by at least half)."""
        return scoring.median_time(self.steps) if self.runs else math.inf

    @property
    def reached(self) -> int:
        return sum(s is not None for s in self.steps)

    @property
    def failed(self) -> int:
        return sum(r.status != "completed" for r in self.runs)


@dataclass(frozen=True)
class Benchmark:
    data: ExperimentData
    spec: dict[str, Any]
    cells: list[Cell]
    trials: dict[tuple[str, str], list[RunData | None]]  # (task, optimizer) → the tuning run of each point

    @property
    def tasks(self) -> list[str]:
        return list(self.spec.get("tasks", []))

    @property
    def optimizers(self) -> list[str]:
        names = self.spec.get("names", {})
        return [names.get(item, item) for item in self.spec.get("optimizers", [])]

    @property
    def budgets(self) -> list[int]:
        return list(self.spec.get("budgets", []))

    def metric(self, task: str) -> str:
        return str(self.spec.get("task_info", {}).get(task, {}).get("metric", "accuracy"))

    def cell(self, task: str, optimizer: str, budget: int) -> Cell:
        return next(c for c in self.cells if (c.task, c.optimizer, c.budget) == (task, optimizer, budget))

    def ratios(self, budget: int) -> dict[str, dict[str, float]]:
        """Per task, every optimizer's performance ratio at ``budget``."""
        return {t: scoring.ratios({o: self.cell(t, o, budget).time for o in self.optimizers}) for t in self.tasks}

    def scores(self, budget: int) -> dict[str, float]:
        return scoring.profile_score(self.ratios(budget), self.r_max)

    @property
    def r_max(self) -> float:
        return float(self.spec.get("r_max", scoring.R_MAX))

    def leaders(self, task: str, budget: int) -> list[str]:
        return scoring.leaders({o: self.cell(task, o, budget).test_values for o in self.optimizers},
                               lower_is_better=self.metric(task) == "loss")


def _without_seed(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "seed"}


def analyse(data: ExperimentData) -> Benchmark:
    """The benchmark of a stored experiment of kind ``benchmark`` (see the module docstring)."""
    spec = data.experiment.spec if isinstance(data.experiment.spec, dict) else {}
    names, search = spec.get("names", {}), spec.get("search", {})
    tuning_seed, seeds = spec.get("tuning_seed", 0), set(spec.get("evaluation_seeds", []))
    cells, trials = [], {}
    for task in spec.get("tasks", []):
        metric = spec.get("task_info", {}).get(task, {}).get("metric", "accuracy")
        mine = [r for r in data.runs if r.run.task == task]
        for item in spec.get("optimizers", []):
            name, points = names.get(item, item), search.get(item, [])
            runs = [r for r in mine if r.optimizer == name]
            tuned = [r for r in runs if r.seed == tuning_seed]
            found = [next((r for r in tuned if extras_of(r.hyperparameters, list(p)) == p), None) for p in points]
            trials[(task, name)] = found
            values = [scoring.selection_value(r.status, r.run.summary, metric) if r else None for r in found]
            for budget in spec.get("budgets", []):
                index = scoring.select(values, budget, lower_is_better=metric == "loss")
                if index is None:
                    cells.append(Cell(task, name, budget, None, {}, None))
                    continue
                chosen = _without_seed(found[index].config)
                evals = sorted((r for r in runs if r.seed in seeds and _without_seed(r.config) == chosen),
                               key=lambda r: r.seed)
                test = [_finite(r.final("test_loss" if metric == "loss" else "test_acc")) for r in evals]
                cells.append(Cell(task, name, budget, index, dict(points[index]), values[index], evals,
                                  scoring.t_interval(test), test,
                                  [scoring.to_target(r.run.summary) for r in evals],
                                  [scoring.to_target(r.run.summary, "seconds") for r in evals]))
    return Benchmark(data, spec, cells, trials)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# -- tables ---------------------------------------------------------------------------------------------------
def _point(point: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in point.items()) or "–"


def _metric_text(interval: Interval, metric: str) -> str:
    return interval.format(".4g") if metric == "loss" else interval.format(".1f", scale=100, unit="%")


def score_table(b: Benchmark, explain: bool = True) -> Table:
    """Per optimizer, its performance-profile score at every budget (and its rank there); with ``explain``, its note
    says why a task adds 0 to every score (:func:`unscored`; the console says it in :func:`statements`)."""
    rows = []
    scores = {budget: b.scores(budget) for budget in b.budgets}
    for name in b.optimizers:
        cells = []
        for budget in b.budgets:
            s = scores[budget]
            rank = 1 + sum(v > s[name] for v in s.values())
            cells.append(f"{s[name]:.3f} (#{rank})")
        rows.append((name, *cells))
    return Table(f"Performance-profile score by tuning budget (AlgoPerf, r_max = {b.r_max:g}; 1 = fastest "
                 "to target on every task)", ("optimizer", *(f"budget {n}" for n in b.budgets)), tuple(rows),
                 note="Score = 1/(r_max − 1) ∫₁^r_max ρ(τ) dτ, ρ(τ) the fraction of tasks on which the optimizer's "
                 "median updates to target is within τ × the fastest optimizer's; a task it does not bring to "
                 "target on at least half its seeds counts as never within any τ."
                 + "".join(f" Note: {line}." for line in (unscored(b) if explain else [])))


def unscored(b: Benchmark) -> list[str]:
    """Why a task adds 0 to every optimizer's score at the largest budget, one line per such task: it has no target
    (a user's task made without ``target=``: time to target is undefined there), or no optimizer brought it to its
    target on at least half of its seeds. Without the line, a score of 0 reads as a bad result rather than none."""
    if not b.budgets:
        return []
    last, lines = b.budgets[-1], []
    for task in b.tasks:
        target = b.spec.get("task_info", {}).get(task, {}).get("target")
        metric = "val loss" if b.metric(task) == "loss" else "val acc"
        if target is None:
            lines.append(f"{task} has no target {metric} (custom_task(target=...)): no time to target, so it adds 0 to "
                         "every score; compare there on the test metric")
        elif all(math.isinf(b.cell(task, o, last).time) for o in b.optimizers):
            lines.append(f"budget {last}, {task}: no optimizer reached its target ({metric} {target:g}) on at least "
                         "half of its seeds, so it adds 0 to every optimizer's score")
    return lines


def task_table(b: Benchmark, budget: int) -> Table:
    """Per task and optimizer at ``budget``: the selection, its test number and time to target over seeds."""
    rows = []
    ratios = b.ratios(budget)
    for task in b.tasks:
        metric = b.metric(task)
        for name in b.optimizers:
            c = b.cell(task, name, budget)
            r = ratios[task][name]
            if c.index is None:
                rows.append((name, task, "no trial completed", "–", "–", "–", "∞", "–", "–", "∞"))
                continue
            steps = scoring.t_interval(c.steps)
            secs = scoring.t_interval(c.seconds)
            rows.append((name, task, f"#{c.index}: {_point(c.point)}", f"{c.val:.4g}" if c.val is not None else "–",
                         _metric_text(c.test, metric) + (f" ({c.failed} ×)" if c.failed else ""),
                         f"{c.reached}/{len(c.runs)}", "∞" if math.isinf(c.time) else f"{c.time:.0f}",
                         steps.format(".0f") if c.reached else "–",
                         (secs.format(".2f", unit="s") if c.reached else "–"),
                         "∞" if math.isinf(r) else f"{r:.2f}"))
    return Table(f"Per task at budget {budget}", ("optimizer", "task", "selected trial", "val (tuning)",
                                                   "test (mean ± 95% CI)", "reached", "median updates",
                                                   "updates to target (mean ± 95% CI)", "seconds to target",
                                                   "ratio r"), tuple(rows),
                 note="Selected on the tuning trial's final validation number among the budget's first trials; "
                 "test and time to target over the evaluation seeds (× = runs that diverged or failed, left out "
                 "of the mean). Intervals: Student's t at 95 % over seeds. Seconds of a vectorized pass belong "
                 "to all the runs it trained together.", brief=(0, 1, 2, 4, 5, 6, 9))


def verdict_table(b: Benchmark) -> Table:
    """Per budget and task: which optimizers lead on the test metric, and whether the data can tell them apart."""
    rows = []
    for budget in b.budgets:
        for task in b.tasks:
            lead = b.leaders(task, budget)
            if not lead:
                text = "no optimizer completed"
            elif len(lead) == 1:
                text = f"{lead[0]} is best, distinguishable from every other optimizer"
            else:
                text = f"cannot tell apart: {', '.join(lead)} (best mean: {lead[0]})"
            rows.append((str(budget), task, text))
    return Table("Confidence statements (test metric)", ("budget", "task", "verdict"), tuple(rows),
                 note="Welch's t interval (95 %) of each difference of means over the evaluation seeds, no "
                 "multiple-comparison correction: a winner is named only when its interval against every other "
                 "optimizer excludes 0. With one seed, nothing can be told apart.")


def pairwise_table(b: Benchmark) -> Table:
    rows = []
    for budget in b.budgets:
        for task in b.tasks:
            scale = 1.0 if b.metric(task) == "loss" else 100.0
            for i, x in enumerate(b.optimizers):
                for y in b.optimizers[i + 1:]:
                    d = scoring.welch(b.cell(task, x, budget).test_values, b.cell(task, y, budget).test_values)
                    if math.isnan(d.diff):
                        continue
                    told = {True: "distinguishable", False: "within seed noise", None: "too few seeds"}
                    interval = "–" if math.isnan(d.low) else f"[{d.low * scale:+.3g}, {d.high * scale:+.3g}]"
                    rows.append((str(budget), task, f"{x} − {y}", f"{d.diff * scale:+.3g}", interval,
                                 told[d.distinguishable]))
    unit = "percentage points of accuracy (loss for a task whose metric is the loss)"
    return Table("Pairwise differences of the test metric", ("budget", "task", "pair", "difference", "95% interval",
                                                              "verdict"), tuple(rows), note=f"In {unit}.")


def space_table(b: Benchmark) -> Table:
    rows = []
    for item in b.spec.get("optimizers", []):
        name = b.spec.get("names", {}).get(item, item)
        points = b.spec.get("search", {}).get(item, [])
        rows.append((name, "; ".join(b.spec.get("space", {}).get(item, [])) or "nothing tuned (defaults only)",
                     _point(points[0]) if points else "–", str(len(points))))
    budgets = ", ".join(map(str, b.budgets))
    return Table("Search spaces and budgets", ("optimizer", "tuned dimensions", "trial #0 (defaults)",
                                               "trials per task"), tuple(rows),
                 note=f"Budgets {budgets} are prefixes of one sequence: trial #0 the defaults, then a scrambled Sobol "
                 f"sequence (search seed {b.spec.get('search_seed')}); tuning at seed {b.spec.get('tuning_seed')}, "
                 f"evaluation at seeds {', '.join(map(str, b.spec.get('evaluation_seeds', [])))}; tasks: "
                 + "; ".join(f"{t} (target {i.get('target')} val {'loss' if i.get('metric') == 'loss' else 'acc'}, "
                             f"{i.get('epochs')} epochs, batch {i.get('batch_size')})"
                             for t, i in b.spec.get("task_info", {}).items()) + ".")


def console_tables(b: Benchmark) -> list[Table]:
    """What the command prints: the scores and the per-task table of the largest budget."""
    return [score_table(b, explain=False), task_table(b, b.budgets[-1])] if b.budgets else []


def statements(b: Benchmark) -> list[str]:
    """One line per task of the largest budget: the verdict of :func:`verdict_table`; then why a task adds 0 to every
    score, if one does (:func:`unscored`)."""
    table = verdict_table(b)
    last = str(b.budgets[-1]) if b.budgets else None
    return [f"budget {budget}, {task}: {text}" for budget, task, text in table.rows if budget == last] + [
        f"note: {line}" for line in unscored(b)]


def to_json(b: Benchmark) -> dict[str, Any]:
    """The scores and every cell, for ``--json`` (non-finite numbers are written as null by the writer)."""
    return {
        "experiment_id": b.data.experiment.id, "spec": b.spec,
        "scores": {str(budget): b.scores(budget) for budget in b.budgets},
        "cells": [{"task": c.task, "optimizer": c.optimizer, "budget": c.budget, "selected": c.index,
                   "point": c.point, "val": c.val, "test": c.test_values, "test_mean": c.test.mean,
                   "test_ci": [c.test.low, c.test.high], "steps_to_target": c.steps,
                   "seconds_to_target": c.seconds, "median_steps": c.time} for c in b.cells],
    }


# -- figures ----------------------------------------------------------------------------------------------------
def profile_figure(b: Benchmark, colors: Mapping[str, str]) -> Any:
    """ρ(τ) of every optimizer, one panel per budget, with the score in the legend."""
    n = max(1, len(b.budgets))
    fig = style.figure(4.2 * n + 1.0, 3.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, budget in zip(axes, b.budgets):
        curves = scoring.profile(b.ratios(budget), TAUS)
        scores = b.scores(budget)
        for i, name in enumerate(b.optimizers):
            ax.step(TAUS, curves[name], where="post", color=colors.get(name, style.FALLBACK), lw=style.LINE,
                    ls=style.LINESTYLES[i % len(style.LINESTYLES)], label=f"{name} ({scores[name]:.2f})")
        ax.set_xlim(1.0, b.r_max)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("τ (updates to target ÷ the fastest's)")
        ax.set_title(f"budget {budget}", fontsize=style.AXES_TITLE)
        style.axes_style(ax)
        ax.legend(fontsize=style.SMALL, title="optimizer (score)", title_fontsize=style.SMALL, loc="lower right")
    axes[0].set_ylabel("fraction of tasks within τ")
    return fig


def budget_figure(b: Benchmark, colors: Mapping[str, str]) -> Any:
    """Left: each optimizer's profile score against the budget; right: its mean rank of the test metric."""
    fig = style.figure(9.0, 3.6)
    left, right = fig.subplots(1, 2)
    x = b.budgets
    for i, name in enumerate(b.optimizers):
        kw = {"color": colors.get(name, style.FALLBACK), "marker": "o", "lw": style.LINE,
              "ls": style.LINESTYLES[i % len(style.LINESTYLES)], "label": name}
        left.plot(x, [b.scores(budget)[name] for budget in x], **kw)
        right.plot(x, [mean_rank(b, budget)[name] for budget in x], **kw)
    for ax, label in ((left, "profile score"), (right, "mean rank of the test metric (1 = best)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("tuning budget (trials)")
        ax.set_ylabel(label)
        style.axes_style(ax)
    left.set_ylim(-0.03, 1.03)
    right.invert_yaxis()
    right.legend(fontsize=style.SMALL, loc="best")
    return fig


def mean_rank(b: Benchmark, budget: int) -> dict[str, float]:
    """Per optimizer, its rank of the mean test metric averaged over tasks (no value: ranked last)."""
    ranks: dict[str, list[float]] = {name: [] for name in b.optimizers}
    for task in b.tasks:
        sign = 1.0 if b.metric(task) == "loss" else -1.0
        key = {n: (sign * m if math.isfinite(m := b.cell(task, n, budget).test.mean) else math.inf)
               for n in b.optimizers}
        for rank, name in enumerate(sorted(b.optimizers, key=lambda n: key[n]), 1):
            ranks[name].append(rank)
    return {name: float(np.mean(r)) if r else math.nan for name, r in ranks.items()}


def build_benchmark_report(data: ExperimentData, *, dpi: int = 100, figures: bool = True) -> Report:
    """The report of a benchmark: the scores, the profile and budget figures, one per-task table per budget, the
    confidence statements and pairwise differences, the search spaces and budgets, the environment."""
    b = analyse(data)
    colors = style.optimizer_colors(b.optimizers)
    rendered = []
    if figures and b.budgets and b.tasks:
        rendered = [
            Figure("Performance profiles", f"ρ(τ): the fraction of the {len(b.tasks)} tasks on which each optimizer's "
                   "median updates to target (over the evaluation seeds) is within τ × the fastest optimizer's, one "
                   "panel per tuning budget; a task never brought to target never counts. The legend gives the "
                   f"score, the area under ρ from 1 to {b.r_max:g} divided by {b.r_max - 1:g}.",
                   plots.png_bytes(profile_figure(b, colors), dpi=dpi)),
            Figure("Standing against the tuning budget", "Left: the profile score at each budget; right: the rank "
                   "of each optimizer's mean test metric, averaged over the tasks. Each budget's trials are a prefix "
                   "of the next's.", plots.png_bytes(budget_figure(b, colors), dpi=dpi)),
        ]
    tables = [score_table(b), verdict_table(b), *(task_table(b, budget) for budget in b.budgets), pairwise_table(b),
              space_table(b), environment_table(data.experiment.env)]
    return Report(data=data, groups=[], sweeps=[], tables=tables, figures=rendered, colors=colors)

