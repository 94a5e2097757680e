"""Plugins: installed packages that add optimizers or tasks through entry points.

A package declares them in its metadata, e.g. in its ``pyproject.toml``::

    [project.entry-points."descentlab.optimizers"]
    signum = "mypackage.signum_rule:Signum"        # a torch.optim.Optimizer subclass or a factory

    [project.entry-points."descentlab.tasks"]
    my-task = "mypackage.tasks:task"               # a Task (or a function returning one)

The registries load them on first use (``descentlab.optim.registry.load_plugins``,
``descentlab.tasks.registry.load_plugins``) and remember where each came from: the distribution's name and
version, which is also the fingerprint that goes into each run's identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from descentlab.errors import UserError

OPTIMIZERS = "descentlab.optimizers"
TASKS = "descentlab.tasks"


def entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group``."""
    from importlib.metadata import entry_points as found

    return list(found(group=group))


def source_of(ep: Any) -> tuple[str, str]:
    """``(source, fingerprint)`` of an entry point: the distribution that declares it (name, version, object),
    and a SHA-256 of that."""
    dist = getattr(ep, "dist", None)
    name, version = (dist.metadata["Name"], dist.version) if dist is not None else ("?", "?")
    return f"plugin {name} {version} ({ep.value})", hashlib.sha256(f"{name}=={version}:{ep.value}".encode()).hexdigest()


def load(group: str, kind: str, make: Callable[[Any], Any] = lambda obj: obj) -> list[tuple[str, Any, str, str]]:
    """Every plugin of ``group``: ``(name, made, source, fingerprint)`` with ``made = make(loaded object)``. A
    plugin whose import or ``make`` fails is one line naming it (``kind`` says what it was meant to be)."""
    out = []
    for ep in entry_points(group):
        source, fingerprint = source_of(ep)
        try:
            made = make(ep.load())
        except UserError as exc:
            raise UserError(f"{kind} plugin {ep.name!r} ({source}): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a broken plugin is its author's to fix: say which, in one line
            raise UserError(f"{kind} plugin {ep.name!r} ({source}) failed to load: {type(exc).__name__}: "
                            f"{exc}") from None
        out.append((ep.name, made, source, fingerprint))
    return out
