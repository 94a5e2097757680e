"""trial_key: the identity of a configuration (store/keys.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from descentlab.store import canonical_json, trial_key
from descentlab.store.keys import from_json

# The strings "nan", "inf" and "-inf" stand for the non-finite floats (documented in keys.py; see test_numbers).
texts = st.text(max_size=8).filter(lambda s: s not in ("nan", "inf", "-inf"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), texts)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
configs = st.dictionaries(st.text(max_size=8), values, min_size=1, max_size=8)
quick = settings(max_examples=50, deadline=None)  # keep the store tests well under 20 s on a busy 2-core machine


def _shuffled(value):
    """The same value with every dict's insertion order shuffled."""
    if isinstance(value, dict):
        items = list(value.items())
        random.shuffle(items)
        return {k: _shuffled(v) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v) for v in value]
    return value


def _identical(a, b) -> bool:
    """Same type and value (NaN is identical to NaN, 0.0 to 0.0 but not to -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def test_fixed_vector() -> None:
    # If this changes, every stored trial key changes and no existing experiment can be resumed.
    config = {"task": "mnist1d-mlp", "optimizer": {"name": "adam", "lr": 0.001, "betas": (0.9, 0.999)}, "seed": 0}
    assert canonical_json(config) == (
        '{"optimizer":{"betas":[0.9,0.999],"lr":0.001,"name":"adam"},"seed":0,"task":"mnist1d-mlp"}'
    )
    assert trial_key(config) == "4c07afa86079c1dd"
    assert len(trial_key({})) == 16


@quick
@given(configs, st.randoms(use_true_random=False))
def test_stable_across_dict_order(config: dict, rnd: random.Random) -> None:
    random.seed(rnd.random())
    assert trial_key(_shuffled(config)) == trial_key(config)


@quick
@given(configs, st.data())
def test_differs_when_any_value_changes(config: dict, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(config)))
    new = data.draw(scalars)
    old = config[key]
    assume(not _identical(old, new))
    assert trial_key({**config, key: new}) != trial_key(config)
    # ... and when a value deep inside changes.
    assert trial_key({**config, "nested": {"x": [old]}}) != trial_key({**config, "nested": {"x": [new]}})


@quick
@given(configs)
def test_round_trips_through_json(config: dict) -> None:
    assert trial_key(from_json(canonical_json(config))) == trial_key(config)


def test_numbers() -> None:
    assert trial_key({"lr": 0.1}) == trial_key({"lr": 1e-1}) == trial_key({"lr": float("0.1")})
    assert trial_key({"lr": 0.1}) == trial_key({"lr": np.float64(0.1)})
    assert trial_key({"lr": 0.1 + 0.2}) != trial_key({"lr": 0.3})
    assert len({trial_key({"x": v}) for v in (1, 1.0, True, "1")}) == 4
    assert trial_key({"n": np.int64(3)}) == trial_key({"n": 3})
    assert trial_key({"b": (1, 2)}) == trial_key({"b": [1, 2]})
    assert trial_key({"x": float("nan")}) == trial_key({"x": float("nan")})
    assert trial_key({"x": 0.0}) != trial_key({"x": -0.0})
    # The documented price of standard JSON: the string "inf" and the float inf are one value.
    assert trial_key({"x": "inf"}) == trial_key({"x": math.inf})
    back = from_json(canonical_json({"x": [math.inf, -math.inf, math.nan, "infinity"]}))["x"]
    assert back[:2] == [math.inf, -math.inf] and math.isnan(back[2]) and back[3] == "infinity"


def test_unstorable_values_are_refused() -> None:
    with pytest.raises(TypeError, match="config keys must be strings, got 1"):
        trial_key({1: "a"})
    with pytest.raises(TypeError, match="cannot store"):
        trial_key({"a": {1, 2}})
    with pytest.raises(TypeError, match="cannot store"):
        trial_key({"a": np.zeros(3)})
