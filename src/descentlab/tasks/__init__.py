"""Tasks: data + model + loss + metric + default budget + target.

>>> from descentlab.tasks import get_task
>>> task = get_task("mnist1d-mlp")
>>> model = task.build_model(seed=0, init="keras")

Your own network and data: :func:`custom_task` (a model and arrays), :func:`data_task` (an .npz or .csv file);
``get_task("./my_task.py:task")`` resolves a reference to user code (:mod:`descentlab.tasks.external`).
"""

from descentlab.tasks.custom import CustomTask, custom_task, data_task  # noqa: E402  (after the registry)
from descentlab.tasks.models import INITS, apply_init, build
from descentlab.tasks.registry import LOSSES, METRICS, Task, get_task, register, task_names

__all__ = ["INITS", "LOSSES", "METRICS", "CustomTask", "Task", "apply_init", "build", "custom_task", "data_task",
           "get_task", "register", "task_names"]
