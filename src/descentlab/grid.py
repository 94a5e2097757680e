"""Hyperparameter grids: how a swept name maps into an optimizer's hyperparameters and back, and how a variant is
labelled — shared by the sweep that builds the trials (:mod:`descentlab.experiments.sweep`) and the report that
reads them back (:mod:`descentlab.report.sweep`), neither of which imports the other.

A grid name is a hyperparameter name, except ``beta1`` / ``beta2``, which set one element of ``betas``
(:data:`BETAS`). A *variant* is an optimizer at one combination of grid values: ``"adam (beta1=0.8)"``.

A list of items written ``NAME(key=value,...)`` (``--optimizers``, ``--schedule``) is split at the commas outside
parentheses by :func:`split_items`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from descentlab.errors import UserError

BETAS = {"beta1": 0, "beta2": 1}  # names that set one element of ``betas``


def has(resolved: Mapping[str, Any], name: str) -> bool:
    """Whether an optimizer with these resolved hyperparameters takes the grid name ``name``."""
    if name in BETAS:
        return isinstance(resolved.get("betas"), (tuple, list))
    return name in resolved


def apply(hyper: dict[str, Any], resolved: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``hyper`` with the grid ``values`` set (``beta1``/``beta2`` into a copy of the resolved ``betas``)."""
    out = dict(hyper)
    for name, value in values.items():
        if name in BETAS:
            betas = list(out.get("betas", resolved["betas"]))
            betas[BETAS[name]] = value
            out["betas"] = tuple(betas)
        else:
            out[name] = value
    return out


def extras_of(hyperparameters: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The values of the grid names ``names`` that a run's hyperparameters hold (the inverse of :func:`apply`)."""
    out = {}
    for name in names:
        if name in BETAS:
            betas = hyperparameters.get("betas")
            if isinstance(betas, (tuple, list)):
                out[name] = betas[BETAS[name]]
        elif name in hyperparameters:
            out[name] = hyperparameters[name]
    return out


def variant_label(optimizer: str, values: Mapping[str, Any]) -> str:
    """``"momentum"`` or ``"momentum (momentum=0.8, weight_decay=0.0001)"``."""
    if not values:
        return optimizer
    return f"{optimizer} ({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in values.items())})"


def split_items(text: str) -> list[str]:
    """``"adam(lr=1e-3,betas=(0.9,0.99)),sgd"`` → ``["adam(lr=1e-3,betas=(0.9,0.99))", "sgd"]``: commas inside
    parentheses stay."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            raise UserError(f"unbalanced ')' in {text!r}")
        current.append(ch)
    if depth:
        raise UserError(f"unbalanced '(' in {text!r}")
    items.append("".join(current).strip())
    return items
