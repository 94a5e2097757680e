"""Optimizers by name, as the workbench and ``minimize`` refer to them.

A registry entry is an optimizer class plus the hyperparameters that the name implies: ``momentum`` is
``SGD`` with μ = 0.9, ``nesterov`` is ``SGD`` with μ = 0.9 and NAG. Nothing about the math is repeated here.

:func:`get` also takes references to optimizers from anywhere (``module:Name``, ``path/file.py:Name``) and finds
plugins installed under the entry-point group ``descentlab.optimizers``: see :mod:`descentlab.optim.external`.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from descentlab.errors import UserError
from descentlab.registry import Registry, unknown
from descentlab.rules.base import UnknownHyperparameterError


@dataclass(frozen=True)
class Entry:
    """An optimizer by name: ``cls`` is a ``torch.optim.Optimizer`` subclass or a factory ``params -> Optimizer``.

    ``source`` says where it came from (``descentlab``, a module, a file, a plugin's distribution);
    ``fingerprint`` identifies the code of an optimizer that is not descentlab's (it goes into each run's
    identity)."""

    name: str
    cls: Any
    implied: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    source: str = "descentlab"
    fingerprint: str | None = None

    @property
    def is_rule(self) -> bool:
        """Whether this is one of descentlab's rules (proven, listed, vectorizable)."""
        from descentlab.optim.capabilities import rule_of

        return isinstance(self.cls, type) and rule_of(self.cls) is not None

    def hyperparameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The resolved hyperparameters (defaults, then what the name implies, then ``overrides``), validated: a
        rule's by the rule; any other optimizer's from its constructor's signature (and checked by building it
        once on a dummy parameter)."""
        from descentlab.optim import external

        rule = getattr(self.cls, "rule", None) if self.is_rule else None
        merged = {**self.implied, **(overrides or {})}
        if rule is not None:
            return rule.resolve(merged)
        return external.resolve_hyperparameters(self.cls, self.name, merged)

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
        made = self.cls(params, **kwargs)
        if not isinstance(made, torch.optim.Optimizer):
            raise UserError(f"optimizer {self.name!r} returned a {type(made).__name__}, not a torch.optim.Optimizer")
        return made


REGISTRY: Registry[Entry] = Registry("optimizer")


def register(entry: Entry, *, source: str = "built-in") -> Entry:
    return REGISTRY.register(entry.name, entry, source=source)


def names() -> list[str]:
    """The registered names (built-ins, then plugins, then names registered at run time), in order."""
    load_plugins()
    return REGISTRY.names()


def get(name: str) -> Entry:
    """The entry for a registry name, a plugin's name, or a reference ``module:Name`` / ``path/file.py:Name``."""
    from descentlab.optim import external

    name = str(name).strip()
    if external.is_reference(name):
        return reference(name)
    load_plugins()
    if name not in REGISTRY:
        raise unknown("optimizer", name, REGISTRY.names(),
                      extra=", or module:Name or path/file.py:Name for an optimizer of your own")
    return REGISTRY.get(name)


_references: dict[str, Entry] = {}


def reference(text: str) -> Entry:
    """The entry of an optimizer named by module or file (``module:Name``, ``path/file.py:Name``)."""
    from descentlab.optim import external

    where, _, attr = text.rpartition(":")
    is_file = where.endswith(".py") or "/" in where
    if is_file:
        where = os.path.normpath(where)  # ./my_opt.py and my_opt.py are one optimizer
    canonical = f"{where}:{attr}"
    # a file is read again when its content changed (an edit in a notebook's session is new code: new identity)
    path = Path(where)
    key = f"{canonical}:{hashlib.sha256(path.read_bytes()).hexdigest()}" if is_file and path.is_file() else canonical
    if key not in _references:
        obj, source, fingerprint = external.load_object(canonical)
        external.check_optimizer_object(obj, canonical)
        doc = (inspect.getdoc(obj) or "").strip().splitlines()
        _references[key] = Entry(canonical, obj, {}, doc[0] if doc else "", source, fingerprint)
    return _references[key]


_plugins_loaded = False


def load_plugins() -> None:
    """Register the optimizers that installed packages declare under the entry-point group
    ``descentlab.optimizers`` (once per process). A plugin that fails to load is one line naming it."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from descentlab import plugins
    from descentlab.optim import external

    def checked(obj: Any) -> Any:
        external.check_optimizer_object(obj, "its object")
        return obj

    for name, obj, source, fingerprint in plugins.load(plugins.OPTIMIZERS, "optimizer", checked):
        doc = (inspect.getdoc(obj) or "").strip().splitlines()
        register(Entry(name.strip().lower(), obj, {}, doc[0] if doc else "", source, fingerprint), source=source)


def create(name: str, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
    """``create("adam", model.parameters(), lr=3e-4)``: the registered optimizer with these overrides."""
    return get(name).create(params, **overrides)
