"""A schedule as a user writes it (``--schedule 'cosine(warmup_steps=0.05)'``), resolved for one run.

Syntax of one schedule (:func:`parse_schedule`): ``NAME`` or ``NAME(key=value, ...)``, where ``NAME`` is a name
of :data:`~descentlab.schedules.SCHEDULES` and each ``value`` a Python literal (a number, a tuple such as
``milestones=(30,60)``, True/False, or a word such as ``decay=cosine``, read as a string). In a shell, quote an
item with parentheses: ``--schedule 'cosine(warmup_steps=100)'``. A list (``constant,cosine(eta_min=1e-5)``) is
split at the commas outside parentheses (:func:`schedule_list`).

What the run fills in (:meth:`ScheduleSpec.resolve`, given the run's learning rate and its number of updates
``T = epochs × ceil(n_train / batch size)``):

- **the peak** (``value`` of constant; ``base`` of the decays and cosines; ``max_lr`` of onecycle and cyclic;
  ``peak`` of wsd and inverse-sqrt) is the run's learning rate (the optimizer's resolved ``lr``) unless given;
- **the horizon** (``T_max`` of cosine, ``total_iters`` of polynomial, ``total_steps`` of onecycle and wsd) is
  the run's updates after the warm-up, ``T − warmup_steps``, unless given: the schedule ends with the run, at
  every batch size;
- **step counts may be fractions of the run**: a step-count parameter (``warmup_steps``, ``T_max``, ``T_0``,
  ``total_steps``, ``total_iters``, ``step_size``, ``step_size_up``, ``step_size_down``, each of
  ``milestones``) given as a number strictly between 0 and 1 means ``round(value × T)`` updates (at least 1);
- **warm-up then any schedule**: ``warmup_steps`` (and ``warmup_start_factor``) in front of a schedule without a
  warm-up of its own is a linear :class:`~descentlab.schedules.Warmup` into it (what
  :func:`~descentlab.schedules.make_schedule` builds), e.g. ``cosine(warmup_steps=0.1)``: 10 % of the updates
  rising linearly from 0 to the lr, then a cosine down to 0 over the other 90 %.

Only the learning rate is scheduled: ``onecycle`` and ``cyclic`` take their momentum parameters (they are part of
the schedule object) but a run's momentum stays its optimizer's.

The resolved schedule is a :class:`RunSchedule`: the label the user wrote and the schedule of that run. It is a
frozen dataclass, so :func:`descentlab.train.config.describe_schedule` puts both (every resolved number
included) into the run's identity.
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from descentlab.errors import UserError
from descentlab.grid import split_items
from descentlab.schedules.base import Schedule
from descentlab.schedules.registry import _OWN_WARMUP, SCHEDULES, make_schedule

PEAK = {"constant": "value", "step": "base", "multistep": "base", "exponential": "base", "polynomial": "base",
        "cosine": "base", "cosine-restarts": "base", "onecycle": "max_lr", "cyclic": "max_lr", "wsd": "peak",
        "inverse-sqrt": "peak"}
"""Per schedule name, the parameter that is the run's learning rate unless given."""
HORIZON = {"cosine": "T_max", "polynomial": "total_iters", "onecycle": "total_steps", "wsd": "total_steps"}
"""Per schedule name, the parameter that is the run's number of updates (after the warm-up) unless given."""
STEP_PARAMS = frozenset({"warmup_steps", "T_max", "T_0", "total_steps", "total_iters", "step_size", "step_size_up",
                         "step_size_down", "milestones"})
"""Step-count parameters: a value strictly between 0 and 1 is that fraction of the run's updates."""
_WARMUP = ("warmup_steps", "warmup_start_factor")
SCHEDULE_HELP = ("learning-rate schedule(s), a comma-separated list crossed with the other settings: NAME or "
                 "'NAME(key=value,...)' (quote parentheses in a shell), NAME one of " + ", ".join(SCHEDULES)
                 + ". The peak is the run's lr and the horizon its real number of updates (epochs × "
                 "ceil(n_train / batch)) unless given; a step count below 1 is a fraction of the run; "
                 "warmup_steps puts a linear warm-up in front, e.g. 'cosine(warmup_steps=0.05)' "
                 "(see `descentlab list schedules`)")


def scheduled_label(name: str, schedule: str | None) -> str:
    """A run's name with its schedule: ``adam`` → ``adam (cosine)``, ``sgd (momentum=0.9)`` →
    ``sgd (momentum=0.9, cosine)``; ``name`` itself without a schedule."""
    if not schedule:
        return name
    if name.endswith(")") and " (" in name:
        return f"{name[:-1]}, {schedule})"
    return f"{name} ({schedule})"


def allowed_parameters(name: str) -> list[str]:
    """The parameters schedule ``name`` takes (``warmup_steps``/``warmup_start_factor`` added where they put a
    warm-up in front)."""
    names = [p for p in inspect.signature(SCHEDULES[name]).parameters if p != "self"]
    return names + [w for w in _WARMUP if w not in names] if name not in _OWN_WARMUP else names


@dataclass(frozen=True)
class RunSchedule:
    """One run's learning-rate schedule: ``label`` as the user wrote it (canonical), ``schedule`` resolved for the
    run (absolute lr per 0-based update)."""

    label: str
    schedule: Schedule

    def __call__(self, step: int) -> float:
        return float(self.schedule(step))


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule name and the parameters the user gave (sorted by name); :attr:`label` is its canonical text."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``"cosine"`` or ``"cosine(eta_min=1e-05,warmup_steps=100)"``: what a spec stores and a table shows."""
        if not self.params:
            return self.name
        return f"{self.name}({','.join(f'{k}={_literal(v)}' for k, v in self.params)})"

    def check(self) -> ScheduleSpec:
        """Raise a one-line :class:`UserError` for an unknown name or parameter; return self."""
        check_name(self.name)
        allowed = allowed_parameters(self.name)
        unknown = [k for k, _ in self.params if k not in allowed]
        if unknown:
            raise UserError(f"schedule {self.name!r}: unknown parameter(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(allowed)}")
        given = {k for k, _ in self.params} | {PEAK[self.name], HORIZON.get(self.name)}
        missing = [p.name for p in inspect.signature(SCHEDULES[self.name]).parameters.values()
                   if p.default is inspect.Parameter.empty and p.name not in given]
        if missing:
            raise UserError(f"schedule {self.name!r} needs {', '.join(missing)}, e.g. "
                            f"{self.name}({missing[0]}=...); allowed: {', '.join(allowed)}")
        return self

    def resolve(self, lr: float | None, total_steps: int) -> RunSchedule:
        """The schedule of a run at learning rate ``lr`` with ``total_steps`` updates (see the module docstring);
        a parameter the schedule refuses is a one-line :class:`UserError` naming it."""
        self.check()
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise UserError(f"schedule {self.label!r}: a run needs at least one update, got {total_steps!r}")
        kwargs = {k: _steps(self.label, k, v, total_steps) for k, v in self.params}
        peak = PEAK[self.name]
        if peak not in kwargs:
            if lr is None:
                raise UserError(f"schedule {self.label!r}: the optimizer has no lr to start from; give {peak}=...")
            kwargs[peak] = float(lr)
        horizon = HORIZON.get(self.name)
        if horizon is not None and horizon not in kwargs:
            warmup = kwargs.get("warmup_steps", 0) if self.name not in _OWN_WARMUP else 0
            after = total_steps - warmup if isinstance(warmup, int) and not isinstance(warmup, bool) else total_steps
            if after < 1:
                raise UserError(f"schedule {self.label!r}: warmup_steps={warmup} leaves no update of the run's "
                                f"{total_steps} for the schedule after it")
            kwargs[horizon] = after
        try:
            schedule = make_schedule(self.name, **kwargs)
        except UserError as exc:
            raise UserError(f"schedule {self.label!r} for a run of {total_steps} updates: {exc}") from None
        return RunSchedule(self.label, schedule)


TORCH_EQUIVALENTS = {"steplr": "step(step_size=...)", "multisteplr": "multistep(milestones=(...))",
                     "exponentiallr": "exponential(gamma=...)", "polynomiallr": "polynomial",
                     "cosineannealinglr": "cosine", "cosineannealingwarmrestarts": "cosine-restarts(T_0=...)",
                     "onecyclelr": "onecycle", "cycliclr": "cyclic(base_lr=...)",
                     "linearlr": "NAME(warmup_steps=...), a linear warm-up in front of any schedule",
                     "sequentiallr": "NAME(warmup_steps=...), a linear warm-up in front of any schedule"}
"""torch ``lr_scheduler`` names (lower case) and what to write here instead."""
PLATEAU = frozenset({"reducelronplateau", "plateau", "reduce-on-plateau", "reduceonplateau", "reducelr-on-plateau"})
TORCH_OTHERS = frozenset({"lambdalr", "multiplicativelr", "chainedscheduler", "constantlr", "lrscheduler"})
"""torch ``lr_scheduler`` names without a counterpart here (functions of the user's, chains)."""
PER_UPDATE = "each is stepped once per update, not per epoch: its step counts are updates, or fractions of the run"
OWN_SCHEDULE = ("from Python, any function step -> lr trains one run: RunConfig.build(..., schedule=fn) "
                "(docs/bring-your-own.md, 'Your schedule')")


def foreign_schedule(given: str) -> str | None:
    """The one line for a schedule that is none of descentlab's names but a torch ``lr_scheduler`` name (with what
    to write instead), reduce-on-plateau (why it is not offered) or a reference to code (``module:Name``,
    ``file.py:Name``); ``None`` for anything else (a misspelt name gets the registry's "did you mean")."""
    given = given.strip()
    key = given.rpartition(":" if ":" in given else ".")[2].strip().lower().replace("_", "-")
    valid = ", ".join(SCHEDULES)
    if key in PLATEAU:
        return (f"schedule {given!r} is not offered: reduce-on-plateau needs the validation metric fed back "
                "while the run trains, and a schedule here is a fixed function of the update number, known "
                "before the run starts (so that resume, a vectorized pass and the run's identity agree); use a "
                f"decay fixed in advance, one of {valid}")
    if key in TORCH_EQUIVALENTS:
        return (f"schedule {given!r} is torch's; here write {TORCH_EQUIVALENTS[key]} ({PER_UPDATE}); "
                f"valid names: {valid}")
    if key in TORCH_OTHERS:
        return (f"schedule {given!r} is a torch lr_scheduler; --schedule takes one of {valid} ({PER_UPDATE}); "
                f"{OWN_SCHEDULE}")
    if ":" in given or given.endswith(".py"):
        return f"schedule {given!r}: --schedule takes a name, one of {valid}, not code; {OWN_SCHEDULE}"
    return None


def foreign_schedule_object(obj: Any) -> str | None:
    """The one line for a torch ``lr_scheduler`` class or object given where a schedule goes (it needs the
    optimizer, and steps itself), else ``None``."""
    import torch

    kinds = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if (isinstance(obj, type) and issubclass(obj, kinds)) or isinstance(obj, kinds):
        name = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        hint = foreign_schedule(name)
        return hint or (f"schedule {name}: a torch lr_scheduler wraps an optimizer and steps itself; a run's "
                        f"schedule is a function step -> lr, or one of {', '.join(SCHEDULES)}")
    return None


def check_name(name: str, given: str | None = None) -> None:
    """An unknown name is one line: a torch scheduler's or a reference's (:func:`foreign_schedule`), else the
    registry's, with its "did you mean", naming the schedule as the user wrote it."""
    if name in SCHEDULES.names():
        return
    hint = foreign_schedule(given or name)
    if hint is not None:
        raise UserError(hint)
    try:
        SCHEDULES.get(name)
    except UserError as exc:
        if given is None or given.strip() == name:
            raise
        raise UserError(str(exc).replace(repr(name), repr(given.strip()), 1)) from None


def _steps(label: str, key: str, value: Any, total: int) -> Any:
    """A step-count parameter given as a fraction of the run, in updates; anything else unchanged."""
    if key not in STEP_PARAMS:
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_steps(label, key, v, total) for v in value)
    if isinstance(value, float) and 0 < value < 1:
        return max(1, round(value * total))
    return value


def _literal(value: Any) -> str:
    if isinstance(value, float):
        # Short when exact; else every digit: the label is what a spec stores and trains from, so it must read
        # back as this very number (f"{0.9999999:g}" is "1").
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, tuple):
        return "(" + ",".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str) and value.isidentifier():
        return value
    return repr(value)


def parse_schedule(text: str) -> ScheduleSpec:
    """``"cosine(warmup_steps=100, eta_min=1e-5)"`` → ``ScheduleSpec("cosine", (("eta_min", 1e-05),
    ("warmup_steps", 100)))``, checked (:meth:`ScheduleSpec.check`). Names are case-insensitive, ``_`` = ``-``."""
    item = text.strip()
    name, paren, inner = item.partition("(")
    name = name.strip().lower().replace("_", "-")
    if not name:
        raise UserError(f"--schedule {text!r}: no schedule name; valid names: {', '.join(SCHEDULES)}")
    check_name(name, item.partition("(")[0])  # an unknown name first: what the user most likely mistyped
    if not paren:
        return ScheduleSpec(name).check()
    if not inner.endswith(")"):
        raise UserError(f"--schedule {text!r}: parameters go in parentheses at the end, e.g. cosine(warmup_steps=100)")
    try:
        call = ast.parse(f"f({inner}", mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):  # deep nesting exhausts the parser's stack
        raise UserError(f"--schedule {text!r}: cannot read its parameters; write NAME(key=value, ...), "
                        "e.g. cosine(warmup_steps=100,eta_min=1e-5)") from None
    if not isinstance(call, ast.Call) or call.args or any(kw.arg is None for kw in call.keywords):
        raise UserError(f"--schedule {text!r}: parameters must be given as key=value, e.g. step(step_size=100)")
    params: dict[str, Any] = {}
    for kw in call.keywords:
        assert kw.arg is not None
        params[kw.arg] = _value(text, kw.arg, kw.value)
    return ScheduleSpec(name, tuple(sorted(params.items()))).check()


def _value(text: str, key: str, node: ast.expr) -> Any:
    if isinstance(node, ast.Name):  # a bare word: decay=cosine, mode=triangular2
        return {"True": True, "False": False, "None": None}.get(node.id, node.id)
    try:
        value = ast.literal_eval(node)
    except (ValueError, RecursionError, MemoryError):
        raise UserError(f"--schedule {text!r}: {key}= must be a number, a tuple of numbers, True/False, a word or "
                        f"a quoted text such as decay='1-sqrt', got {ast.unparse(node)!r}") from None
    if isinstance(value, list):
        value = tuple(value)
    numbers = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        raise UserError(f"--schedule {text!r}: {key}={ast.unparse(node)} is not a finite number")
    return value


def as_spec(schedule: ScheduleSpec | str | Mapping[str, Any]) -> ScheduleSpec:
    """A :class:`ScheduleSpec` from itself, its text, or ``{"name": ..., **params}`` (what the Python API takes)."""
    if isinstance(schedule, ScheduleSpec):
        return schedule.check()
    if isinstance(schedule, str):
        return parse_schedule(schedule)
    if isinstance(schedule, Mapping) and isinstance(schedule.get("name"), str):
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in schedule.items() if k != "name"}
        return ScheduleSpec(schedule["name"], tuple(sorted(params.items()))).check()
    hint = foreign_schedule_object(schedule)
    if hint is not None:
        raise UserError(hint)
    if callable(schedule):
        raise UserError(f"a schedule here is a name such as 'cosine(warmup_steps=100)', kept in the experiment's "
                        f"spec, not a function ({getattr(schedule, '__name__', type(schedule).__name__)}); "
                        f"{OWN_SCHEDULE}")
    raise UserError(f"a schedule is a name such as 'cosine(warmup_steps=100)', got {schedule!r}")


def schedule_list(schedules: str | Sequence[ScheduleSpec | str | Mapping[str, Any]]) -> tuple[ScheduleSpec, ...]:
    """Checked specs of a comma-separated list (``"constant,cosine(eta_min=1e-5)"``, split at the commas outside
    parentheses by :func:`descentlab.grid.split_items`) or of a sequence of texts, specs or ``{"name": ...}``
    mappings; a schedule listed twice is an error."""
    if not isinstance(schedules, str) and not isinstance(schedules, Sequence):
        as_spec(schedules)  # a function or a torch scheduler: its one line
        raise UserError(f"schedules must be a text or a list of them, got {schedules!r}")
    items = split_items(schedules) if isinstance(schedules, str) else list(schedules)
    if isinstance(schedules, str) and not all(items):
        raise UserError(f"--schedule {schedules!r} has an empty item; give a comma-separated list")
    specs = tuple(as_spec(s) for s in items)
    labels = [s.label for s in specs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UserError(f"--schedule lists {', '.join(twice)} twice")
    return specs
