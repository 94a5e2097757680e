"""get_task resolves references to user code and data: file.py:name, module:name, .npz/.csv files."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from descentlab.errors import UserError
from descentlab.tasks import CustomTask, get_task, task_names
from descentlab.tasks.external import identity, is_reference

pytestmark = pytest.mark.usefixtures("forget_user_tasks")

TASK_FILE = """
import numpy as np
from torch import nn
from descentlab.tasks import custom_task

rng = np.random.default_rng(0)
x = rng.normal(size=(60, 3)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
{name} = custom_task({task!r}, model=lambda: nn.Linear(3, 2), x_train=x[:50], y_train=y[:50], x_test=x[50:],
                     y_test=y[50:], epochs=2)
"""


def write_task(folder, file="my_task.py", name="task", task="ext-task", extra=""):
    path = folder / file
    path.write_text(textwrap.dedent(TASK_FILE.format(name=name, task=task)) + extra)
    return path


def test_references_are_told_from_names() -> None:
    assert not is_reference("mnist1d-mlp") and not is_reference(3)
    assert all(is_reference(r) for r in ("./t.py:task", "t.py", "pkg.mod:task", "d.npz", "D.CSV"))


def test_file_reference_registers_the_task_with_its_source_and_code_hash(tmp_path) -> None:
    path = write_task(tmp_path)
    task = get_task(f"{path}:task")
    assert isinstance(task, CustomTask) and task.name == "ext-task" and task.source == f"{path}:task"
    assert get_task("ext-task") is task and "ext-task" in task_names()
    assert get_task(str(path)) is task  # file.py alone means file.py:task
    assert get_task(f"{path}:task") is task  # the file is executed once per content
    spec = identity(task)
    assert spec["task_source"] == f"{path}:task" and spec["task_fingerprint"] == task.fingerprint
    assert identity(get_task("digits-mlp")) == {}
    path.write_text(path.read_text() + "\n# edited\n")
    edited = get_task(f"{path}:task")
    assert edited is not task and edited.fingerprint != task.fingerprint and get_task("ext-task") is edited


def test_module_reference_and_factories(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_task(pkg, "tasks.py", name="_made", task="mod-task",
               extra="\ndef make():\n    return _made\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = get_task("userpkg.tasks:make")
    assert task.name == "mod-task" and task.source == "userpkg.tasks:make" and task.code_sha256


@pytest.mark.parametrize(("content", "reference", "message"), [
    (None, "{d}/missing.py:task", r"task file '.*missing.py' not found"),
    ("import numpy\n\n1 / 0\n", "{d}/t.py:task", r"importing task file .*t.py raised ZeroDivisionError \(line 3\)"),
    ("x = 3\n", "{d}/t.py:task", r"t.py has no 'task'; it defines no task"),
    ("task = 3\n", "{d}/t.py:task", r"t.py:task is a int, not a task; make one with descentlab.tasks.custom_task"),
    ("def task():\n    return 'no'\n", "{d}/t.py:task", r"t.py:task\(\) returned str, not a task"),
    (None, "no_such_module_xyz:task", r"cannot import module 'no_such_module_xyz'"),
    (None, "{d}/missing.npz", r"data file '.*missing.npz' not found"),
])
def test_bad_references_are_one_line_errors(tmp_path, content, reference, message) -> None:
    if content is not None:
        (tmp_path / "t.py").write_text(content)
    with pytest.raises(UserError, match=message) as info:
        get_task(reference.format(d=tmp_path))
    assert "\n" not in str(info.value)


def test_a_check_failing_inside_the_file_names_the_file(tmp_path) -> None:
    path = write_task(tmp_path).read_text().replace("nn.Linear(3, 2)", "nn.Linear(5, 2)")
    (tmp_path / "broken.py").write_text(path)
    with pytest.raises(UserError, match=r"broken.py: task 'ext-task': the model raised RuntimeError"):
        get_task(f"{tmp_path}/broken.py:task")


def test_a_builtin_name_cannot_be_taken(tmp_path) -> None:
    path = write_task(tmp_path, task="digits-mlp")
    with pytest.raises(UserError, match="task name 'digits-mlp' is a built-in task's"):
        get_task(f"{path}:task")
    assert not isinstance(get_task("digits-mlp"), CustomTask)


def test_data_file_reference(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    np.savez(tmp_path / "pts.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    task = get_task(str(tmp_path / "pts.npz"))
    assert task.name == "pts" and get_task(str(tmp_path / "pts.npz")) is task

