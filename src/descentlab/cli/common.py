"""``--optimizers`` lists: the one flag whose items are more than a name (every other value is checked by
:mod:`descentlab.validation`)."""

from __future__ import annotations

from descentlab.errors import UserError


def optimizer_items(text: str) -> tuple[str, ...]:
    """``--optimizers``: registry names, ``module:Name`` or ``path/file.py:Name``, each optionally with
    hyperparameters ``name(k=v, ...)``, comma-separated (commas inside parentheses stay). Registry names are
    case-insensitive and stored lower-cased; a Python name keeps its case. An item given twice is refused."""
    from descentlab.optim import external

    items: list[str] = []
    for item in external.split_items(text):
        if not item:
            continue
        ref, given = external.parse_item(item)
        ref = ref if external.is_reference(ref) else ref.lower()
        formatted = external.format_item(ref, given)
        if formatted in items:
            raise UserError(f"--optimizers {text[:60]!r} names {formatted} twice; give each once")
        items.append(formatted)
    if not items:
        raise UserError(f"--optimizers {text[:60]!r} is empty; give a comma-separated list")
    return tuple(items)
