"""Optimizers by name, as the workbench and ``minimize`` refer to them.

A registry entry is an optimizer class plus the hyperparameters that the name implies: ``momentum`` is
``SGD`` with μ = 0.9, ``nesterov`` is ``SGD`` with μ = 0.9 and NAG. Nothing about the math is repeated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from descentlab.errors import UserError


@dataclass(frozen=True)
class Entry:
    name: str
    cls: type[torch.optim.Optimizer]
    implied: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    def hyperparameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The resolved hyperparameters (defaults, then what the name implies, then ``overrides``), validated."""
        rule = getattr(self.cls, "rule", None)
        merged = {**self.implied, **(overrides or {})}
        if rule is not None:
            return rule.resolve(merged)
        return merged

    def create(self, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
        return self.cls(params, **{**self.implied, **overrides})


_REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    _REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> Entry:
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        raise UserError(f"unknown optimizer {name!r}; valid names: {', '.join(_REGISTRY)}") from None


def create(name: str, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
    """``create("adam", model.parameters(), lr=3e-4)``: the registered optimizer with these overrides."""
    return get(name).create(params, **overrides)
