"""Optimizers by name, as the workbench and ``minimize`` refer to them.

A registry entry is an optimizer class plus the hyperparameters that the name implies: ``momentum`` is
``SGD`` with μ = 0.9, ``nesterov`` is ``SGD`` with μ = 0.9 and NAG. Nothing about the math is repeated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from descentlab.registry import Registry


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


REGISTRY: Registry[Entry] = Registry("optimizer")


def register(entry: Entry, *, source: str = "built-in") -> Entry:
    return REGISTRY.register(entry.name, entry, source=source)


names = REGISTRY.names  # the registered names, in order
get = REGISTRY.get  # the Entry registered as a name; UserError listing the valid names if there is none


def create(name: str, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
    """``create("adam", model.parameters(), lr=3e-4)``: the registered optimizer with these overrides."""
    return get(name).create(params, **overrides)
