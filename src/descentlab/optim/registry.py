"""Optimizers by name, as the workbench and ``minimize`` refer to them.

A registry entry is an optimizer class plus the hyperparameters that the name implies: ``momentum`` is
``SGD`` with μ = 0.9, ``nesterov`` is ``SGD`` with μ = 0.9 and NAG. Nothing about the math is repeated here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from descentlab.registry import Registry
from descentlab.rules.base import UnknownHyperparameterError


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

    def keywords(self) -> list[str] | None:
        """The keywords the class's constructor takes after ``params`` (None: it takes any)."""
        signature = inspect.signature(self.cls.__init__)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
            return None
        return [k for k in signature.parameters if k not in ("self", "params")]

    def create(self, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
        """The optimizer; an unknown keyword is refused naming the allowed ones (a TypeError, as Python's)."""
        kwargs = {**self.implied, **overrides}
        allowed = self.keywords()
        unknown = [] if allowed is None else [k for k in kwargs if k not in allowed]
        if unknown and allowed is not None:
            raise UnknownHyperparameterError(f"{self.name}: unknown hyperparameter {unknown[0]!r}; "
                                             f"allowed: {', '.join(allowed)}")
        return self.cls(params, **kwargs)


REGISTRY: Registry[Entry] = Registry("optimizer")


def register(entry: Entry, *, source: str = "built-in") -> Entry:
    return REGISTRY.register(entry.name, entry, source=source)


names = REGISTRY.names  # the registered names, in order
get = REGISTRY.get  # the Entry registered as a name; UserError listing the valid names if there is none


def create(name: str, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
    """``create("adam", model.parameters(), lr=3e-4)``: the registered optimizer with these overrides."""
    return get(name).create(params, **overrides)
