"""``--spec FILE.toml`` of ``compare`` and ``sweep``: the file's keys are the command's flags (``batch-size``,
``batch_size`` alike), flags given on the command line win over the file, and an unknown key or a value of the
wrong type is ONE line naming it and what is allowed (exit 2). The values then go through the same checks as the
flags' (:mod:`descentlab.validation`), before anything runs. The format is :mod:`descentlab.specfile`'s."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from descentlab.errors import UserError
from descentlab.specfile import flag_text as _scalar

_GIVEN = "_flags_given"  # the namespace's set of the dests given on the command line
_OPTIONS = "_spec_options"  # flag name -> its argparse Action
_SKIPPED = ("help", "spec")
_recording: dict[type, type] = {}


def _recorded(cls: type[argparse.Action]) -> type[argparse.Action]:
    """A subclass of ``cls`` that notes, on the namespace, that its flag was given (argparse calls an Action only
    for the flags on the command line; a default never calls it)."""
    if cls not in _recording:
        def __call__(self, parser, namespace, values, option_string=None):  # noqa: N807
            given = getattr(namespace, _GIVEN, set())
            setattr(namespace, _GIVEN, given | {self.dest})
            return cls.__call__(self, parser, namespace, values, option_string)

        _recording[cls] = type(cls.__name__, (cls,), {"__call__": __call__})
    return _recording[cls]


def add_spec_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--spec``; call it after the command's other flags, which it learns (and whose use it records)."""
    p.add_argument("--spec", metavar="FILE.toml", help="read the flags from this TOML file (keys: the flags' names, "
                   "e.g. epochs = 5, optimizers = [\"sgd\", \"adam\"]); flags given here win. `descentlab report "
                   "--toml` writes the file of a stored experiment")
    options: dict[str, argparse.Action] = {}
    for action in p._actions:
        names = [o[2:] for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
        if not names or names[0] in _SKIPPED:
            continue
        action.__class__ = _recorded(type(action))
        options[names[0]] = action
    p.set_defaults(**{_OPTIONS: options})


def _flag_value(where: str, key: str, action: argparse.Action, value: Any) -> Any:
    """The value ``action`` would hold had its flag been given as ``value`` (TOML's), or a one-line UserError."""
    what = f"{where}: {key} = {value!r}"[:160]
    if action.nargs == 0:  # --quiet, --fresh, --vectorize/--no-vectorize
        if not isinstance(value, bool):
            raise UserError(f"{what}: must be true or false")
        return value
    if isinstance(action, argparse._AppendAction):  # --hp NAME=V1,V2 (repeatable): a list, or a table
        if isinstance(value, Mapping):
            value = [f"{k}={','.join(map(_scalar, v if isinstance(v, list) else [v]))}" for k, v in value.items()]
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise UserError(f"{what}: give a list of \"NAME=V1,V2\" texts, or a table NAME = [V1, V2]")
        return list(items)
    if isinstance(value, list):
        if not value or any(isinstance(v, (list, dict)) for v in value):
            raise UserError(f"{what}: give a text, a number or a list of them")
        text = ",".join(map(_scalar, value))
    elif isinstance(value, (dict, bool)) or not isinstance(value, (str, int, float)):
        raise UserError(f"{what}: give a text, a number or a list of them")
    else:
        text = _scalar(value)
    if action.choices is not None and text not in action.choices:
        raise UserError(f"{what}: choose one of {', '.join(map(str, action.choices))}")
    return action.type(text) if callable(action.type) else text


def apply_spec_file(args: argparse.Namespace) -> None:
    """Fill ``args`` from ``args.spec`` (if given): every key a flag of the command, every flag given on the
    command line kept as given."""
    if getattr(args, "spec", None) is None:
        return
    from descentlab.specfile import read

    where = f"--spec {args.spec}"
    options: dict[str, argparse.Action] = getattr(args, _OPTIONS)
    given: set[str] = getattr(args, _GIVEN, set())
    for key, value in read(args.spec).items():
        action = options.get(key.replace("_", "-"))
        if action is None:
            from descentlab.registry import unknown

            error = unknown("key", key, options, listing="allowed:", normalize=lambda k: k.replace("_", "-"))
            raise UserError(f"{where}: {error}")
        if action.dest not in given:
            setattr(args, action.dest, _flag_value(where, key, action, value))
