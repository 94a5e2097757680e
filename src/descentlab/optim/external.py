"""Optimizers from anywhere: a registry name, an importable ``module:Name``, or a file ``path/to/file.py:Name``,
each optionally with hyperparameters, ``name(lr=3e-3, betas=(0.9, 0.99))``.

The object a reference names is a ``torch.optim.Optimizer`` subclass, or a factory ``params -> Optimizer``
(a function or any callable taking the parameters first and hyperparameters as keywords). It becomes an
:class:`~descentlab.optim.registry.Entry` like the built-ins, so everything that takes an optimizer name takes it:
``compare``, ``sweep``, ``lr-find``, ``trace`` and :func:`descentlab.minimize`.

- **Hyperparameters** of a foreign optimizer are its constructor's (or factory's) keyword parameters: their
  defaults are read from the signature, then what was given overrides them (:func:`signature_defaults`). A name
  the constructor does not take is refused in one line, as is a value it refuses: before any training, the
  optimizer is built once on a one-element dummy parameter.
- **Identity**: the entry carries a fingerprint of the code it came from (SHA-256 of the module's source file,
  or of the installed distribution's name and version for a plugin), which goes into every run's identity, so
  editing your optimizer never silently reuses results of the old code.
- **Plugins**: installed packages can register optimizers under the entry-point group ``descentlab.optimizers``
  (``name = "package.module:Object"``); they are listed by ``descentlab list`` with the distribution they come
  from (:func:`load_plugins`).

Syntax of one item of ``--optimizers`` (:func:`parse_item`): ``REF`` or ``REF(k=v, ...)`` where ``REF`` is a
registry name, ``module.sub:Name`` or ``path/file.py:Name`` and each ``v`` a Python literal (number, tuple,
True/False/None, quoted string). In a shell, quote the whole list: ``--optimizers 'adam(lr=3e-3),sgd(lr=0.1)'``.
:func:`split_items` splits a list at the commas that are outside parentheses.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from descentlab.errors import UserError
from descentlab.grid import split_items  # noqa: F401 - external.split_items, the one splitter

_JSON_SCALARS = (bool, int, float, str, type(None))


def items(text: str) -> tuple[str, ...]:
    """The optimizers of ``--optimizers`` (or of the Python API's list, joined by commas): registry names,
    ``module:Name`` or ``path/file.py:Name``, each optionally with hyperparameters ``name(k=v, ...)``,
    comma-separated (commas inside parentheses stay). Registry names are case-insensitive and stored lower-cased; a
    Python name keeps its case. An item given twice, or none, is refused."""
    found: list[str] = []
    for item in split_items(text):
        if not item:
            continue
        ref, given = parse_item(item)
        ref = ref if is_reference(ref) else ref.lower()
        formatted = format_item(ref, given)
        if formatted in found:
            raise UserError(f"--optimizers {text[:60]!r} names {formatted} twice; give each once")
        found.append(formatted)
    if not found:
        raise UserError(f"--optimizers {text[:60]!r} is empty; give a comma-separated list")
    return tuple(found)


def reference_of(obj: Any) -> str:
    """The ``module:Name`` reference of an optimizer class or factory given as an object (the Python API's
    ``optimizers=[torch.optim.LBFGS]``): where it can be imported from again, which is what a run's identity and a
    stored spec hold. One defined in ``__main__`` (a notebook, a script) or in a nested scope cannot be: UserError
    saying to put it in a file and pass ``"file.py:Name"``."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    what = getattr(obj, "__name__", type(obj).__name__)
    if not callable(obj) or not module or not qualname:
        raise UserError(f"optimizer {obj!r}: give a name such as 'adam', a reference 'module:Name' or "
                        "'file.py:Name', or an importable optimizer class or factory")
    if "<lambda>" in qualname:
        raise UserError("optimizer <lambda>: a lambda cannot be found again for the run's identity and its stored "
                        "spec; define it with def in a file and pass 'path/to/file.py:name'")
    if module == "__main__" or "<locals>" in qualname:
        raise UserError(f"optimizer {what} is defined in {'__main__' if module == '__main__' else 'a function'} "
                        "(a notebook, a script), where descentlab cannot find it again for the run's identity and "
                        f"its stored spec; put it in a file and pass 'path/to/file.py:{what}'")
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not obj:
        raise UserError(f"optimizer {what}: {module}:{qualname} does not lead back to it; pass a reference "
                        f"'module:Name' or 'file.py:Name' instead")
    return f"{module}:{qualname}"


def is_reference(name: str) -> bool:
    """Whether ``name`` names an object by module or file (``module:Name``, ``file.py:Name``), not a registry name."""
    return ":" in name


def parse_item(item: str) -> tuple[str, dict[str, Any]]:
    """``"sgd(lr=0.1, momentum=0.9)"`` → ``("sgd", {"lr": 0.1, "momentum": 0.9})``; a bare name has no values."""
    item = item.strip()
    if not item.endswith(")"):
        if "(" in item:
            raise UserError(f"optimizer {item!r}: hyperparameters go in parentheses at the end, e.g. adam(lr=3e-3)")
        return item, {}
    ref, _, inner = item.partition("(")
    ref = ref.strip()
    try:
        call = ast.parse(f"f({inner}", mode="eval").body
    except SyntaxError:
        raise UserError(f"optimizer {item!r}: cannot read its hyperparameters; write NAME(key=value, ...) with "
                        "Python literals, e.g. sgd(lr=0.1,momentum=0.9)") from None
    if not isinstance(call, ast.Call) or call.args:
        raise UserError(f"optimizer {item!r}: hyperparameters must be given as key=value, e.g. adam(lr=3e-3)")
    values: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise UserError(f"optimizer {item!r}: '**' is not allowed; give each hyperparameter as key=value")
        try:
            values[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise UserError(f"optimizer {item!r}: {kw.arg}= must be a Python literal (a number, a tuple, True, "
                            f"False, None or a quoted string), got {ast.unparse(kw.value)!r}") from None
        if isinstance(values[kw.arg], float) and not math.isfinite(values[kw.arg]):
            raise UserError(f"optimizer {item!r}: {kw.arg}={values[kw.arg]} is not a finite number")
    if not ref:
        raise UserError(f"optimizer {item!r}: no name before the parentheses")
    return ref, values


def format_item(ref: str, values: Mapping[str, Any]) -> str:
    """The inverse of :func:`parse_item`, canonical (sorted keys): what a spec stores."""
    if not values:
        return ref
    return f"{ref}({','.join(f'{k}={v!r}' for k, v in sorted(values.items()))})"


# -- loading ----------------------------------------------------------------------------------------------------
def load_object(reference: str) -> tuple[Any, str, str]:
    """``(object, source, fingerprint)`` of ``module:Name`` or ``file.py:Name`` (``Name`` may be dotted)."""
    where, _, attr = reference.rpartition(":")
    if not where or not attr:
        raise UserError(f"optimizer reference {reference!r} must look like module:Name or path/file.py:Name")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module, source = _load_file(Path(where), reference)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001 - any failure of the user's module is one line for the user
            raise UserError(f"cannot import module {where!r} (from {reference!r}): {type(exc).__name__}: "
                            f"{_first_line(exc)}") from None
        source = f"module {where}"
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"{source} has no {attr!r} (from {reference!r})")
        obj = getattr(obj, part)
    return obj, source, fingerprint_of(module, obj)


def _load_file(path: Path, reference: str) -> tuple[Any, str]:
    if not path.is_file():
        raise UserError(f"no file {str(path)!r} (from {reference!r})")
    resolved = path.resolve()
    content = hashlib.sha256(resolved.read_bytes()).hexdigest()  # edited file, new module: never the old code
    name = "descentlab_user_" + hashlib.sha256(f"{resolved}:{content}".encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name], f"file {path}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load {str(path)!r} as Python (from {reference!r})")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file failed: name it and the error, one line
        del sys.modules[name]
        raise UserError(f"{path} failed to import: {type(exc).__name__}: {_first_line(exc)}") from None
    return module, f"file {path}"


def fingerprint_of(module: Any, obj: Any = None) -> str:
    """SHA-256 of the source the object depends on most directly: the file the reference named (``module``) and,
    when the object is defined in another file (imported there), that file too. A module without a file counts by
    its name."""
    digest = hashlib.sha256()
    files = [getattr(module, "__file__", None)]
    with contextlib.suppress(TypeError):  # a built-in object has no source file
        files.append(inspect.getsourcefile(obj) if obj is not None else None)
    for path in dict.fromkeys(f for f in files if f):
        digest.update(Path(path).read_bytes() if Path(path).is_file() else path.encode())
    if not any(files):
        digest.update(str(getattr(module, "__name__", module)).encode())
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


# -- what a foreign optimizer takes -----------------------------------------------------------------------------
def check_optimizer_object(obj: Any, reference: str) -> None:
    """A ``torch.optim.Optimizer`` subclass, or a callable factory; anything else is refused in one line."""
    if isinstance(obj, type):
        if not issubclass(obj, torch.optim.Optimizer):
            raise UserError(f"{reference!r} is the class {obj.__name__}, not a torch.optim.Optimizer subclass")
        return
    if not callable(obj):
        raise UserError(f"{reference!r} is a {type(obj).__name__}, not a torch.optim.Optimizer subclass or a "
                        "factory params -> Optimizer")


def signature_defaults(obj: Callable[..., Any]) -> tuple[dict[str, Any], set[str], bool]:
    """``(defaults, names, takes_any)``: the keyword hyperparameters of a constructor or factory after its first
    (``params``) argument — their JSON-describable defaults, all their names, and whether it takes ``**kwargs``."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}, set(), True
    params = list(sig.parameters.values())
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]  # params (for a class, inspect.signature already dropped self)
    defaults, names, takes_any = {}, set(), False
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        names.add(p.name)
        if p.default is not inspect.Parameter.empty and _describable(p.default):
            defaults[p.name] = p.default
    return defaults, names, takes_any


def _required(obj: Callable[..., Any]) -> list[str]:
    """The keyword hyperparameters of a constructor or factory (after ``params``) that have no default."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return []
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def _describable(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_describable(v) for v in value)
    return isinstance(value, _JSON_SCALARS) and not (isinstance(value, float) and not math.isfinite(value))


def resolve_hyperparameters(obj: Callable[..., Any], reference: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor's defaults updated by ``given``; a name it does not take is refused, then the optimizer is
    built once on a dummy parameter so that a value it refuses fails here, before any training."""
    defaults, names, takes_any = signature_defaults(obj)
    unknown = sorted(set(given) - names)
    if unknown and not takes_any:
        raise UserError(f"optimizer {reference!r} takes no hyperparameter {unknown[0]!r}; it takes: "
                        f"{', '.join(sorted(names)) or 'none'}")
    resolved = {**defaults, **given}
    missing = [name for name in _required(obj) if name not in resolved]
    if missing:
        example = ", ".join(f"{name}=..." for name in missing)
        raise UserError(f"optimizer {reference!r} needs {', '.join(missing)} (no default in its signature); give "
                        f"{'them' if len(missing) > 1 else 'it'}: '{reference}({example})'")
    try:
        made = obj([torch.zeros(1, requires_grad=True)], **resolved)
    except Exception as exc:  # noqa: BLE001 - whatever the user's constructor raises is one line for the user
        raise UserError(f"optimizer {reference!r} refused {format_item('', resolved)[1:-1] or 'its defaults'}: "
                        f"{type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(made, torch.optim.Optimizer):
        raise UserError(f"{reference!r} returned a {type(made).__name__}, not a torch.optim.Optimizer")
    return resolved
