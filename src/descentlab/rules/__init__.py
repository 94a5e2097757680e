"""Update rules: each optimizer's math, written once. See :mod:`descentlab.rules.base` for the contract."""

from descentlab.rules.base import HyperparameterError, Rule

__all__ = ["HyperparameterError", "Rule"]
