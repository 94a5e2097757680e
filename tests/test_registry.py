"""The one registry shape: lookups by the spelling a user types, one-line errors that list the valid names."""

from __future__ import annotations

import pytest

from descentlab import optim
from descentlab.data.datasets import REGISTRY as DATASETS
from descentlab.errors import UserError
from descentlab.registry import Registry, dashed
from descentlab.schedules import SCHEDULES
from descentlab.tasks import registry as tasks
from descentlab.tasks.functions import FUNCTIONS


def test_get_normalizes_the_name_and_keeps_registration_order():
    r: Registry[int] = Registry("colour")
    r.register("Red", 1)
    r.register("green", 2, source="my_plugin.py")
    assert r.get("  RED ") == 1 and r["green"] == 2 and "GREEN" in r and "blue" not in r
    assert r.names() == ["red", "green"] and r.items() == [("red", 1), ("green", 2)] and len(r) == 2
    assert r.source("red") == "built-in" and r.source("green") == "my_plugin.py"
    r.register("red", 3)  # a replacement keeps its place
    assert r.names() == ["red", "green"] and r.get("red") == 3
    assert r.unregister("Red") == 3 and r.names() == ["green"]
    with pytest.raises(UserError, match="unknown colour 'red'"):
        r.unregister("red")


def _colours() -> Registry:
    """A registry of two colours, red then green."""
    r = Registry("colour")
    r.register("red", 1)
    r.register("green", 2)
    return r


@pytest.mark.parametrize("bad", ["blue", "", None, 3])
def test_an_unknown_name_is_one_line_naming_it_and_listing_the_valid_ones(bad):
    with pytest.raises(UserError) as info:
        _colours().get(bad)
    assert str(info.value) == f"unknown colour {bad!r}; valid names: red, green"


def test_dashed_names_read_underscores_as_dashes_and_an_empty_name_is_refused():
    r = Registry("task", normalize=dashed, listing="choose one of")
    r.register("mnist1d-mlp", "t")
    assert r.get("MNIST1D_MLP") == "t"
    with pytest.raises(UserError, match="unknown task 'x'; choose one of mnist1d-mlp"):
        r.get("x")
    with pytest.raises(UserError, match="needs a name"):
        r.register("  ", "t")


def test_every_closed_list_is_a_registry_of_this_shape():
    for registry in (optim.registry.REGISTRY, tasks.TASKS, FUNCTIONS, SCHEDULES, DATASETS):
        assert isinstance(registry, Registry) and registry.names()
    assert optim.names() == optim.registry.REGISTRY.names() and optim.get("ADAM").name == "adam"
    assert tasks.task_names() == tasks.TASKS.names()
    assert DATASETS.names() == ["mnist", "fashion-mnist", "mnist1d", "digits"]


@pytest.mark.parametrize(("bad", "hint"), [
    ("gren", " (did you mean 'green'?)"),
    ("GREN ", " (did you mean 'green'?)"),  # compared as the registry spells names
    ("reed", " (did you mean 'red' or 'green'?)"),  # both are close enough (similarity ≥ 0.6), red closer
    ("yellow", ""),  # nothing close: no guess
])
def test_a_misspelt_name_says_which_valid_names_are_closest(bad, hint):
    with pytest.raises(UserError) as info:
        _colours().get(bad)
    assert str(info.value) == f"unknown colour {bad!r}{hint}; valid names: red, green"


def test_several_close_names_are_offered_closest_first():
    r = Registry("optimizer")
    for name in ("adam", "adamw", "adamax", "sgd"):
        r.register(name, name)
    with pytest.raises(UserError, match=r"^unknown optimizer 'adamx' \(did you mean 'adamax', 'adam' or 'adamw'\?\); "):
        r.get("adamx")
