"""Test-wide settings.

One torch thread: the models in the tests are tiny, so a second thread only adds synchronisation (and, on a
loaded 2-core machine, spin-waiting); and bitwise-determinism tests need a fixed thread count.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture
def forget_user_tasks():
    """Tasks a test resolved from user files, modules or data are unregistered after it (the built-ins stay)."""
    yield
    from descentlab.tasks import CustomTask, get_task, task_names
    from descentlab.tasks.external import forget

    forget()
    assert not any(isinstance(get_task(n), CustomTask) for n in task_names())
