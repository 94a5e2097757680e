"""Test-wide settings.

One torch thread: the models in the tests are tiny, so a second thread only adds synchronisation (and, on a
loaded 2-core machine, spin-waiting); and bitwise-determinism tests need a fixed thread count.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
