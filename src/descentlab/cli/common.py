"""Argument parsing shared by the commands: lists, ranges, numbers with clear one-line errors."""

from __future__ import annotations

from descentlab.errors import UserError


def parse_list(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UserError(f"--{what} {text!r} is empty; give a comma-separated list")
    return items


def parse_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--{what} {text!r} is not a number") from None


def parse_positive_int(text: str | int, what: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UserError(f"--{what} {text!r} is not a whole number") from None
    if value < 1:
        raise UserError(f"--{what} {value} must be ≥ 1")
    return value


def parse_batch_sizes(text: str) -> list[int | str]:
    out: list[int | str] = []
    for item in parse_list(text, "batch-size"):
        if item.lower() == "full":
            out.append("full")
        else:
            out.append(parse_positive_int(item, "batch-size"))
    return out


def parse_range(text: str, what: str) -> tuple[float, float]:
    """``LO..HI`` with 0 < LO ≤ HI."""
    if ".." not in text:
        raise UserError(f"--{what} {text!r} must look like LO..HI, e.g. 1e-4..1")
    lo_s, hi_s = text.split("..", 1)
    lo, hi = parse_float(lo_s, what), parse_float(hi_s, what)
    if not (0 < lo <= hi):
        raise UserError(f"--{what} {text!r}: need 0 < LO ≤ HI")
    return lo, hi


def optimizer_items(text: str) -> tuple[str, ...]:
    """``--optimizers``: registry names, ``module:Name`` or ``path/file.py:Name``, each optionally with
    hyperparameters ``name(k=v, ...)``, comma-separated (commas inside parentheses stay). Registry names are
    case-insensitive and stored lower-cased; a Python name keeps its case."""
    from descentlab.optim import external

    items = []
    for item in external.split_items(text):
        if not item:
            continue
        ref, given = external.parse_item(item)
        ref = ref if external.is_reference(ref) else ref.lower()
        items.append(external.format_item(ref, given))
    if not items:
        raise UserError(f"--optimizers {text!r} is empty; give a comma-separated list")
    return tuple(items)
