"""Experiment kinds: what the store accepts, what the CLI creates and how the report reads each one.

A :class:`Kind` is declared once here, below the store, so that the store (which checks the kind it records), the
experiments and commands (which create it) and the report (which reads it back without importing any of them)
all read the same declaration. A new kind is one ``KINDS.register`` call — here, or in the module that defines the
experiment — and the report reads it like any other unless its ``layout`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from descentlab.registry import Registry

Layout = Literal["epochs", "lr-range", "benchmark"]


@dataclass(frozen=True)
class Kind:
    """``layout``: ``"epochs"`` — runs with per-epoch metrics (the summary tables and training curves);
    ``"lr-range"`` — one run per seed of an LR range test, its updates in the store's steps table (the range-test
    figure); ``"benchmark"`` — tuning trials and evaluation runs over several tasks (:mod:`descentlab.scoring`; the
    per-task table, the performance profile and the budget plot).
    ``sweeps_lr``: each optimizer was run at several learning rates, and the report chooses one on validation."""

    name: str
    summary: str
    layout: Layout = "epochs"
    sweeps_lr: bool = False


KINDS: Registry[Kind] = Registry("experiment kind")


def register(kind: Kind, *, source: str = "built-in") -> Kind:
    return KINDS.register(kind.name, kind, source=source)


def layout_of(kind: str) -> Layout | None:
    """The declared layout of the experiment kind ``kind`` (``None`` for a kind this version does not know, e.g. one
    a plugin registered in another process)."""
    return KINDS.get(kind).layout if kind in KINDS else None


register(Kind("compare", "several optimizers (batch sizes, seeds) on one task, each with stated hyperparameters"))
register(Kind("sweep", "each optimizer over a log-spaced range of learning rates (× seeds × listed values)",
              sweeps_lr=True))
register(Kind("lr-find", "the LR range test: the learning rate raised exponentially, step by step, over seeds",
              layout="lr-range", sweeps_lr=True))
register(Kind("benchmark", "every optimizer tuned with the same budget of trials on every task, the selected "
              "configuration re-run over seeds; performance profiles", layout="benchmark"))
