"""One JSON sanitizer: what NaN, infinity, tuples, numpy and torch scalars and dtypes become."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from descentlab.jsonable import to_json_data

VALUE = {"a": (1, 2.5, math.nan), "b": {"c": -math.inf, "d": np.float32(0.5), "e": torch.tensor(3)},
         "f": torch.float32, "g": None, "h": True}


def test_the_three_policies_for_non_finite_floats():
    assert to_json_data(VALUE) == {"a": [1, 2.5, None], "b": {"c": None, "d": 0.5, "e": 3}, "f": "torch.float32",
                                   "g": None, "h": True}
    text = to_json_data(VALUE, non_finite="text")
    assert text["a"][2] == "nan" and text["b"]["c"] == "-inf"
    kept = to_json_data(VALUE, non_finite="keep")
    assert math.isnan(kept["a"][2]) and kept["b"]["c"] == -math.inf
    json.dumps(to_json_data(VALUE), allow_nan=False)  # strict JSON


def test_types_stay_distinct_and_floats_become_plain_floats():
    out = to_json_data([1, 1.0, True, "1", np.int64(2), np.float64(0.1)])
    assert out == [1, 1.0, True, "1", 2, 0.1]
    assert [type(v) for v in out] == [int, float, bool, str, int, float]


def test_what_json_cannot_hold_is_refused_or_passed_to_default():
    with pytest.raises(TypeError, match="keys must be strings, got 1"):
        to_json_data({1: "a"})
    with pytest.raises(TypeError, match="cannot store"):
        to_json_data({"a": np.zeros(3)})
    assert to_json_data({"a": {1, 2}}, default=sorted) == {"a": [1, 2]}
