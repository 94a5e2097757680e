"""Tasks: data + model + loss + metric + default budget + target.

>>> from descentlab.tasks import get_task
>>> task = get_task("mnist1d-mlp")
>>> model = task.build_model(seed=0, init="keras")
"""

from descentlab.tasks.models import INITS, apply_init, build
from descentlab.tasks.registry import LOSSES, METRICS, Task, get_task, register, task_names

__all__ = ["INITS", "LOSSES", "METRICS", "Task", "apply_init", "build", "get_task", "register", "task_names"]
