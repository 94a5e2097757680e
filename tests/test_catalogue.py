"""The torch-free catalogue says what the registries hold: every built-in, in order, with the same columns (so a
change on one side that is not made on the other fails here, naming the entry); plugins come from metadata."""

from __future__ import annotations

import subprocess
import sys

import pytest

from descentlab import catalogue
from descentlab.errors import UserError
from tests.plugin_site import install_plugin


def test_the_optimizers_declared_are_the_registrys_built_ins_in_order():
    from descentlab.optim.registry import REGISTRY

    built_in = [name for name in REGISTRY.names() if REGISTRY.source(name) == "built-in"]
    assert [o.name for o in catalogue.OPTIMIZERS] == built_in
    for o in catalogue.OPTIMIZERS:
        entry = REGISTRY.get(o.name)
        assert (o.cls, dict(o.implied), o.summary) == (
            f"{entry.cls.__module__}.{entry.cls.__qualname__}", dict(entry.implied), entry.summary), o.name


def test_the_tasks_declared_are_the_registrys_built_ins_in_order():
    from descentlab.tasks.registry import TASKS

    built_in = [name for name in TASKS.names() if TASKS.source(name) == "built-in"]
    assert [t.name for t in catalogue.TASKS] == built_in
    for t in catalogue.TASKS:
        task = TASKS.get(t.name)
        assert (t.dataset, t.epochs, t.batch_size, t.target_val_acc, t.description) == (
            task.dataset, task.default_epochs, task.default_batch_size, task.target_val_acc, task.description), t.name


def test_the_datasets_and_functions_declared_are_the_registries():
    from descentlab.data.datasets import DATASETS, REGISTRY
    from descentlab.tasks.functions import FUNCTIONS

    assert [(d.name, d.description) for d in catalogue.DATASETS] == [
        (name, REGISTRY.get(name).description) for name in DATASETS]
    assert [(f.name, f.dim, f.description) for f in catalogue.FUNCTIONS] == [
        (f.name, f.dim, f.description) for f in FUNCTIONS.values()]


def test_the_catalogue_imports_no_torch():
    probe = ("import sys, descentlab.catalogue as c; c.optimizer_names(); c.task_names(); "
             "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugins_are_named_from_their_metadata_without_being_imported(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, package="descentlab_cat_plugin", dist="descentlab-cat-plugin",
                   version="0.1", code="raise ImportError('a plugin must not be imported to be named')\n",
                   entry_points="[descentlab.optimizers]\nCat-SGD = descentlab_cat_plugin:CatSGD\n")
    assert catalogue.optimizer_names()[-1] == "cat-sgd"
    catalogue.check_optimizer("CAT-SGD")  # known by name: no error, and the package is still not imported
    assert "descentlab_cat_plugin" not in sys.modules
    [plugin] = catalogue.plugin_entries("descentlab.optimizers")
    assert plugin.value == "descentlab_cat_plugin:CatSGD"
    assert plugin.source.startswith("plugin descentlab-cat-plugin 0.1")


@pytest.mark.parametrize(("check", "name", "message"), [
    (catalogue.check_optimizer, "adma", "unknown optimizer 'adma' (did you mean 'adamax', 'adam' or 'radam'?); "
                                        "valid names: sgd,"),
    (catalogue.check_task, "mnist1d_mpl", "unknown task 'mnist1d_mpl' (did you mean 'mnist1d-mlp'"),
    (catalogue.check_function, "rosenbrok", "unknown function 'rosenbrok' (did you mean 'rosenbrock'?); valid names:"),
    (catalogue.check_optimizer, "zzz", "unknown optimizer 'zzz'; valid names: sgd, momentum"),
])
def test_a_misspelt_name_is_refused_with_the_closest_names(check, name, message):
    with pytest.raises(UserError) as info:
        check(name)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["sgd", "ADAM", "my_opt.py:Opt", "pkg.mod:Opt"])
def test_known_names_and_references_pass(name):
    catalogue.check_optimizer(name)
    catalogue.check_task("mnist1d_mlp")
    catalogue.check_task("./data.csv")
