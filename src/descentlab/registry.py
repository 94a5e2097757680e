"""Named things a user picks by name: one small registry shape for datasets, tasks, optimizers, schedules, test
functions and experiment kinds.

A :class:`Registry` maps a name to an object, in registration order, and remembers where each came from
(``source``: ``"built-in"`` or the module or file that registered it). Lookups normalize the name the way the
command line spells it (by default stripped and lower-cased) and fail with a one-line
:class:`~descentlab.errors.UserError` that names the bad value and lists the valid ones::

    >>> from descentlab.registry import Registry
    >>> colours = Registry("colour")
    >>> colours.register("red", (1, 0, 0))
    (1, 0, 0)
    >>> colours.get(" RED ")
    (1, 0, 0)
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    descentlab.errors.UserError: unknown colour 'blue'; valid names: red
    >>> colours.get("rde")
    Traceback (most recent call last):
    ...
    descentlab.errors.UserError: unknown colour 'rde' (did you mean 'red'?); valid names: red

Registering a name again replaces the entry (a user's own optimizer may take a built-in's name on purpose); the
order of :meth:`names` stays that of the first registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from descentlab.errors import UserError

T = TypeVar("T")


def lower(name: str) -> str:
    """The default spelling rule: surrounding whitespace dropped, lower case."""
    return str(name).strip().lower()


def dashed(name: str) -> str:
    """Lower case with ``_`` read as ``-`` (``mnist1d_mlp`` finds ``mnist1d-mlp``)."""
    return lower(name).replace("_", "-")


def unknown(kind: str, name: object, valid: Iterable[str], *, listing: str = "valid names:", extra: str = "",
            normalize: Callable[[str], str] = lower) -> UserError:
    """The one error for a name that is not registered: ``unknown optimizer 'adma' (did you mean 'adam'?); valid
    names: …``. The suggestions are the (at most three) closest valid names by :func:`difflib.get_close_matches`
    (similarity ≥ 0.6, compared as ``normalize`` spells names), closest first; ``extra`` ends the line."""
    import difflib

    valid = list(valid)
    typed = normalize(name) if isinstance(name, str) else ""
    close = [repr(c) for c in difflib.get_close_matches(typed, valid, n=3)] if typed else []
    hint = f" (did you mean {' or '.join(', '.join(close).rsplit(', ', 1))}?)" if close else ""
    return UserError(f"unknown {kind} {name!r}{hint}; {listing} {', '.join(valid)}{extra}")


class Registry(Generic[T]):
    """Objects by name. ``kind`` names them in messages (``"unknown optimizer 'x'; valid names: …"``);
    ``normalize`` turns what a user typed into a key; ``listing`` introduces the valid names in the message."""

    def __init__(self, kind: str, *, normalize: Callable[[str], str] = lower, listing: str = "valid names:") -> None:
        self.kind, self.normalize, self.listing = kind, normalize, listing
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}

    def register(self, name: str, obj: T, *, source: str = "built-in") -> T:
        """Add (or replace) ``name``; returns ``obj`` so that it can be used as an expression."""
        key = self.normalize(name)
        if not key:
            raise UserError(f"a {self.kind} needs a name, got {name!r}")
        self._items[key] = obj
        self._sources[key] = source
        return obj

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what it held (UserError if it is not registered)."""
        obj = self.get(name)
        key = self.normalize(name)
        del self._items[key], self._sources[key]
        return obj

    def get(self, name: str) -> T:
        """The object registered as ``name``; UserError naming ``name`` and listing the valid names if none."""
        try:
            return self._items[self.normalize(name)]
        except (KeyError, AttributeError, TypeError):
            raise unknown(self.kind, name, self._items, listing=self.listing, normalize=self.normalize) from None

    def source(self, name: str) -> str:
        """Where ``name`` was registered from."""
        self.get(name)
        return self._sources[self.normalize(name)]

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.normalize(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
