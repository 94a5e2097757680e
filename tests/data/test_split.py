import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.data import stratified_split
from descentlab.errors import UserError


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=1, max_size=300),
    fraction=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_properties(labels, fraction, seed):
    y = np.array(labels)
    keep, held = stratified_split(y, fraction, seed)
    assert np.intersect1d(keep, held).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(y)))
    assert len(held) == round(fraction * len(y))
    for c in np.unique(y):
        n_c = int((y == c).sum())
        assert abs(int((y[held] == c).sum()) - fraction * n_c) < 1  # floor or ceil of the ideal share
    again_keep, again_held = stratified_split(y, fraction, seed)
    np.testing.assert_array_equal(held, again_held)
    np.testing.assert_array_equal(keep, again_keep)


def test_seed_changes_the_draw():
    y = np.arange(1000) % 10
    assert not np.array_equal(stratified_split(y, 0.2, 0)[1], stratified_split(y, 0.2, 1)[1])


def test_zero_fraction_holds_out_nothing():
    keep, held = stratified_split(np.arange(20) % 3, 0.0, 0)
    assert held.size == 0 and held.dtype == np.int64 and keep.size == 20


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "a lot"])
def test_fraction_is_validated(bad):
    with pytest.raises(UserError, match="fraction must be"):
        stratified_split(np.arange(10), bad, 0)
