"""Every value a user gives, checked one way for every command (and for ``descentlab.minimize``).

Each function takes the text (or value) and the flag it came from and returns the parsed value, or raises a
:class:`~descentlab.errors.UserError` whose one line names the flag, the bad value and what is allowed. The
rules, the same everywhere:

- numbers are finite: ``inf``, ``nan`` and ``1e400`` (which overflows to infinity) are refused;
- names (optimizers, tasks) are case-insensitive and stored lower-case; naming one twice is refused, as is
  giving a batch size twice;
- a learning-rate range ``LO..HI`` has ``0 < LO ≤ HI``, both finite; a sweep over ``LO < HI`` needs at least
  two points (one would silently drop the top of the range);
- a batch size larger than the training data is refused (``full`` says "all of it");
- output files are checked before any work: the folder exists and is writable, the path is no folder, and the
  extension is one the writer supports.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from descentlab.errors import UserError


def _shown(text: Any) -> str:
    """A value for an error message: repr, cut to 40 characters so a huge argument stays one short line."""
    text = str(text)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_list(text: str, what: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``; an empty list is refused."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise UserError(f"--{what} {_shown(text)} is empty; give a comma-separated list")
    return items


def parse_names(text: str, what: str) -> list[str]:
    """A comma-separated list of names, lower-cased (names are case-insensitive); a name given twice is refused."""
    names = [n.lower() for n in parse_list(text, what)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"--{what} {_shown(text)} names {', '.join(twice)} twice; give each once")
    return names


def finite(value: float, what: str, text: Any = None) -> float:
    """``value`` if it is a finite number, else UserError."""
    if not math.isfinite(value):
        raise UserError(f"--{what} {_plain(value if text is None else text)} is not a finite number")
    return value


def _plain(text: Any) -> str:
    """A short value as typed, without quotes (``--epochs 0 must be ≥ 1``); a long or odd one quoted."""
    text = str(text).strip()
    return text if len(text) <= 40 and text.isprintable() and " " not in text else _shown(text)


def parse_float(text: str | float, what: str) -> float:
    """A finite number (``1e400`` overflows to infinity and is refused too)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"--{what} {_shown(text)} is not a number") from None
    return finite(value, what, text)


def parse_positive_float(text: str | float, what: str) -> float:
    """A finite number > 0 (learning rates)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"--{what} {_shown(text)} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise UserError(f"--{what} {_plain(text)} must be a finite number > 0")
    return value


# Upper bounds of counts: beyond them a command would only build an endless list of trials (seeds, points
# multiply into runs) or overflow SQLite's integers, never finish.
MAXIMUM = {"seeds": 10_000, "points": 10_000, "epochs": 1_000_000, "steps": 10_000_000, "group-size": 100_000}
LARGEST = 10**9


def whole(text: str | int) -> int | None:
    """The text as an int when it is a whole number (at most one sign, then ASCII digits), else None."""
    digits = str(text).strip()
    unsigned = digits[1:] if digits[:1] in ("+", "-") else digits
    return int(digits) if unsigned.isascii() and unsigned.isdigit() else None


def parse_positive_int(text: str | int, what: str) -> int:
    """A whole number ≥ 1 (ASCII digits) and at most ``MAXIMUM[what]`` (else 10⁹)."""
    value = whole(text)
    if value is None:
        raise UserError(f"--{what} {_shown(text)} is not a whole number")
    if value < 1:
        raise UserError(f"--{what} {_plain(value)} must be ≥ 1")
    if value > MAXIMUM.get(what, LARGEST):
        raise UserError(f"--{what} {_plain(value)} is too large; at most {MAXIMUM.get(what, LARGEST)}")
    return value


def parse_batch_sizes(text: str) -> list[int | str]:
    """``B``, ``full`` or a list such as ``full,1,32``; a size given twice is refused."""
    out: list[int | str] = []
    for item in parse_list(text, "batch-size"):
        size: int | str = "full" if item.lower() == "full" else parse_positive_int(item, "batch-size")
        if size in out:
            raise UserError(f"--batch-size {_shown(text)} gives {size} twice; give each batch size once")
        out.append(size)
    return out


def parse_range(text: str, what: str) -> tuple[float, float]:
    """``LO..HI`` with 0 < LO ≤ HI, both finite."""
    if ".." not in str(text):
        raise UserError(f"--{what} {_shown(text)} must look like LO..HI, e.g. 1e-4..1")
    lo_s, hi_s = str(text).split("..", 1)
    lo, hi = parse_float(lo_s, what), parse_float(hi_s, what)
    if not (0 < lo <= hi):
        raise UserError(f"--{what} {_shown(text)}: need 0 < LO ≤ HI")
    return lo, hi


def check_points(lo: float, hi: float, points: int) -> None:
    """A sweep over ``LO < HI`` needs ≥ 2 points; over ``LO == HI`` exactly 1."""
    if points < 2 and lo < hi:
        raise UserError(f"--points {points} would sweep only {lo:g} of the range {lo:g}..{hi:g}; give --points ≥ 2, "
                        f"or --lr {lo:g}..{lo:g} for one rate")
    if points > 1 and lo == hi:
        raise UserError(f"--lr {lo:g}..{hi:g} is a single rate; give LO < HI or --points 1")


def finite_point(values: Iterable[Any], what: str) -> list[float]:
    """A start point: at least one coordinate, every one a finite number."""
    try:
        point = [float(v) for v in values]
    except (TypeError, ValueError):
        raise UserError(f"{what} must be numbers, got {_shown(values)}") from None
    if not point:
        raise UserError(f"{what} is empty; give at least one coordinate")
    bad = [v for v in point if not math.isfinite(v)]
    if bad:
        raise UserError(f"{what} {_shown(point)} has a non-finite coordinate ({bad[0]}); give finite numbers")
    return point


def check_batch_sizes(batch_sizes: Iterable[int | str], n_train: int) -> None:
    """Every batch size fits the training data (``full`` always does)."""
    for size in batch_sizes:
        if isinstance(size, int) and size > n_train:
            raise UserError(f"--batch-size {size} is larger than the {n_train} training examples; give at most "
                            f"{n_train}, or 'full' for all of them")


def check_output(path: str | os.PathLike[str] | None, flag: str | None = None, suffixes: Sequence[str] = ()
                 ) -> Path | None:
    """``path`` as a Path if a file can be written there (None passes through): its folder exists and is
    writable, it is no folder, and its extension is one of ``suffixes`` (any, when empty). The message names
    ``--flag`` when given, else the path."""
    if path is None:
        return None
    path = Path(path)
    what = f"--{flag} {_shown(path)}" if flag else f"cannot write {path}"
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{what}: it is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{what}: use a {' or '.join(suffixes)} file name")
    if not folder.is_dir():
        raise UserError(f"{what}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{what}: permission denied")
    return path
