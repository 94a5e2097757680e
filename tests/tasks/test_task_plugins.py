"""Tasks from installed packages: the entry-point group ``descentlab.tasks`` (descentlab/plugins.py)."""

from __future__ import annotations

import contextlib
import io
import sqlite3

import pytest

from descentlab.cli import main
from descentlab.errors import UserError
from descentlab.tasks import registry as task_registry
from descentlab.train import RunConfig
from tests.plugin_site import install_plugin

PLUGIN = """
    from functools import partial

    from descentlab.tasks import Task
    from descentlab.tasks.models import mlp


    def task():
        return Task("plugin-digits", "digits", partial(mlp, 64, 16, 10), 1, 32, None, "digits, from a plugin")

    broken = 3
    """


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    entry_points = install_plugin(
        tmp_path / "site", monkeypatch, package="descentlab_task_plugin", dist="descentlab-task-plugin",
        version="0.3.0", code=PLUGIN, entry_points="[descentlab.tasks]\nplugin-digits = descentlab_task_plugin:task\n")
    monkeypatch.setattr(task_registry, "_plugins_loaded", False)
    monkeypatch.setattr(task_registry.TASKS, "_items", dict(task_registry.TASKS._items))
    monkeypatch.setattr(task_registry.TASKS, "_sources", dict(task_registry.TASKS._sources))
    monkeypatch.setattr(task_registry, "PLUGIN_FINGERPRINTS", {})
    return entry_points


def test_a_plugin_task_is_named_listed_and_trained_like_a_built_in(plugin_site, tmp_path):
    assert "plugin-digits" in task_registry.task_names()
    task = task_registry.get_task("plugin_digits")  # spelt as the built-ins may be
    assert task_registry.TASKS.source("plugin-digits").startswith("plugin descentlab-task-plugin 0.3.0")
    config = RunConfig.build(task, "sgd", {})
    assert config.to_dict()["code"]["task"] == task_registry.PLUGIN_FINGERPRINTS["plugin-digits"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["list", "tasks"]) == 0
        assert main(["compare", "--task", "plugin-digits", "--optimizers", "sgd", "--store",
                     str(tmp_path / "s.sqlite"), "--quiet"]) == 0
    assert any("plugin-digits" in line and "plugin" in line for line in out.getvalue().splitlines())
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert [s for (s,) in conn.execute("SELECT status FROM runs")] == ["completed"]


def test_a_plugin_that_is_not_a_task_is_one_line(plugin_site):
    plugin_site.write_text("[descentlab.tasks]\nbroken = descentlab_task_plugin:broken\n")
    with pytest.raises(UserError, match="task plugin 'broken' .* failed to load: TypeError"):
        task_registry.get_task("digits-mlp")
