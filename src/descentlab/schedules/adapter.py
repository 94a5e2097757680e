"""Drive any hyperparameter of a ``torch.optim.Optimizer`` from schedules, as a torch ``LRScheduler``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from descentlab.errors import UserError
from descentlab.schedules.base import Schedule

_KEY = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)\])?$")


def _parse(key: str) -> tuple[str, int | None]:
    match = _KEY.match(key) if isinstance(key, str) else None
    if match is None:
        raise UserError(f"ScheduleAdapter: schedule key must look like 'lr' or 'betas[0]', got {key!r}")
    return match[1], None if match[2] is None else int(match[2])


def _read(group: dict[str, Any], name: str, index: int | None) -> float:
    value = group[name]
    return float(value if index is None else value[index])


def write_value(group: dict[str, Any], name: str, index: int | None, value: float) -> None:
    """Set a param group's hyperparameter ``name`` (element ``index`` of a tuple) to ``value``: a tensor is filled
    in place (so a tensor learning rate stays a tensor, as torch's fused and capturable paths need), anything else
    replaced. The one way a schedule's value reaches an optimizer, here and in the trainers."""
    old = group[name] if index is None else group[name][index]
    if isinstance(old, Tensor):
        old.fill_(value)
    elif index is None:
        group[name] = value
    else:
        items = list(group[name])
        items[index] = value
        group[name] = type(group[name])(items)


class ScheduleAdapter(LRScheduler):
    """A torch ``LRScheduler`` that sets param-group hyperparameters from ``schedule(step)``.

    ``schedules`` maps a hyperparameter name to a schedule: ``"lr"``, ``"momentum"``, ``"weight_decay"``, or an
    element of a tuple such as ``"betas[0]"``. The same schedules drive every param group. Construction applies
    ``schedule(0)``; after the k-th :meth:`step` the groups hold ``schedule(k)`` (the torch convention: call
    ``optimizer.step()`` then ``scheduler.step()``).

    With ``relative=False`` the schedule's value is the hyperparameter itself. With ``relative=True`` it
    multiplies each group's value at construction (``initial_lr`` for ``lr``, as torch's ``base_lrs``), so
    groups with different rates keep their ratio; build the schedule with peak 1.0 for that.

    ``state_dict()`` holds the step count, the base values and the state of stateful schedules (such as
    :class:`ReduceOnPlateau`), not the schedules themselves: rebuild the adapter with the same schedules, then
    ``load_state_dict``. As for any torch scheduler, build it before ``optimizer.load_state_dict``.
    """

    def __init__(self, optimizer: Optimizer, schedules: Mapping[str, Schedule], relative: bool = False) -> None:
        if not isinstance(optimizer, Optimizer):
            raise UserError(f"ScheduleAdapter: optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if not schedules:
            raise UserError("ScheduleAdapter: schedules must name at least one hyperparameter, got none")
        self.schedules = dict(schedules)
        self.relative = bool(relative)
        self._keys = {key: _parse(key) for key in self.schedules}
        for key, schedule in self.schedules.items():
            if not callable(schedule):
                raise UserError(f"ScheduleAdapter: schedules[{key!r}] must be callable step -> value")
            name, index = self._keys[key]
            for i, group in enumerate(optimizer.param_groups):
                if name not in group:
                    known = ", ".join(k for k in group if k != "params")
                    raise UserError(f"ScheduleAdapter: param group {i} has no {name!r}; it has: {known}")
                if index is not None and not (isinstance(group[name], (tuple, list)) and index < len(group[name])):
                    raise UserError(
                        f"ScheduleAdapter: {key!r} needs a tuple with an element {index} in param group {i}, "
                        f"got {name}={group[name]!r}"
                    )
        self.base_values = [
            {key: _read(group, *self._keys[key]) for key in self.schedules} for group in optimizer.param_groups
        ]
        for group, base in zip(optimizer.param_groups, self.base_values, strict=True):
            if "lr" in base and "initial_lr" in group:  # as torch's base_lrs: a previous scheduler's start
                base["lr"] = float(group["initial_lr"])
        super().__init__(optimizer)

    def values_at(self, step: int) -> list[dict[str, float]]:
        """What each param group's scheduled hyperparameters are at ``step`` (without applying them)."""
        out = []
        for base in self.base_values:
            values = {key: float(schedule(step)) for key, schedule in self.schedules.items()}
            if self.relative:
                values = {key: value * base[key] for key, value in values.items()}
            out.append(values)
        return out

    def get_lr(self) -> list[float | Tensor]:
        """Apply ``values_at(last_epoch)`` to every group (all keys) and return the learning rates."""
        values = self.values_at(self.last_epoch)
        for group, group_values in zip(self.optimizer.param_groups, values, strict=True):
            for key, value in group_values.items():
                if key != "lr":
                    write_value(group, *self._keys[key], value)
        self._last_values = values
        return [gv.get("lr", group["lr"]) for gv, group in zip(values, self.optimizer.param_groups, strict=True)]

    def get_last_values(self) -> list[dict[str, float]]:
        """The scheduled hyperparameters of each param group, as last applied."""
        return [dict(v) for v in self._last_values]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedules")}
        state["schedule_states"] = {
            key: s.state_dict() for key, s in self.schedules.items() if hasattr(s, "state_dict")
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        for key, sub in state.pop("schedule_states", {}).items():
            self.schedules[key].load_state_dict(sub)
        self.__dict__.update(state)
