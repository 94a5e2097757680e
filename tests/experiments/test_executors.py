"""Executors: local (vectorized groups or one by one) and Ray store the same results; the driver writes them."""

from __future__ import annotations

import sys

import pytest

from descentlab.errors import UserError
from descentlab.experiments.executors import LocalExecutor, make_executor, plan_groups
from descentlab.experiments.runner import Trial, pending
from descentlab.experiments.sweep import SweepSpec
from descentlab.store import Store
from descentlab.tasks import get_task

from .conftest import stored

SPEC = SweepSpec(task="digits-mlp", optimizers=("sgd", "adam"), lr_min=1e-2, lr_max=1e-1, points=2, seeds=1,
                 epochs=1)
SPLITS = get_task("digits-mlp").load(val_fraction=0.1, seed=0)


def _sweep(path, executor) -> dict:
    with Store(path) as store:
        eid = store.create_experiment("sweep", SPEC.to_dict(), {})
        todo, done = pending(store, eid, SPEC.configs())
        seen = []
        executor.run(todo, store=store, experiment_id=eid, splits=SPLITS, on_result=lambda t, r: seen.append(t.key))
        assert sorted(seen) == sorted(t.key for t in todo) and done == 0
    return stored(path)


def test_groups_follow_the_vectorized_trainer_and_the_flag():
    trials = [Trial.of(c) for c in SPEC.configs()]
    assert [len(g) for g in plan_groups(trials, vectorize=True, group_size=3)] == [3, 1]
    assert [len(g) for g in plan_groups(trials, vectorize=False)] == [1, 1, 1, 1]


def test_local_vectorized_stores_what_one_by_one_stores(tmp_path):
    vec = _sweep(tmp_path / "vec.sqlite", LocalExecutor(vectorize=True, group_size=4))
    one = _sweep(tmp_path / "one.sqlite", LocalExecutor(vectorize=False))
    assert vec.keys() == one.keys() and len(vec) == 4
    for key, run in one.items():
        assert vec[key]["status"] == run["status"] == "completed"
        assert [e["epoch"] for e in vec[key]["epochs"]] == [1]
        for metric, value in run["epochs"][-1].items():
            assert vec[key]["epochs"][-1][metric] == pytest.approx(value, rel=1e-4, abs=1e-6), metric


def test_ray_missing_is_a_user_error_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"pip install 'descentlab\[ray\]'"):
        make_executor("ray")


def test_bad_executor_and_device_are_user_errors():
    with pytest.raises(UserError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(UserError, match="not a torch device"):
        make_executor("local", device="gpu0")


@pytest.mark.slow
def test_ray_stores_exactly_what_the_local_executor_stores(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install 'descentlab[ray]' to run this test")
    local = _sweep(tmp_path / "local.sqlite", LocalExecutor(vectorize=True, group_size=2))
    ray = _sweep(tmp_path / "ray.sqlite", make_executor("ray", vectorize=True, group_size=2, num_cpus=2))
    assert ray == local  # bitwise: same groups, one torch thread in the tasks and here


REFUSES_BIG_STEPS = """
import torch


class Bad(torch.optim.SGD):
    def step(self, closure=None):
        if self.param_groups[0]["lr"] > 0.05:
            raise ValueError("my optimizer refuses big steps")
        return super().step(closure)
"""


def _failing_spec(tmp_path) -> SweepSpec:
    path = tmp_path / "bad_opt.py"
    path.write_text(REFUSES_BIG_STEPS)
    return SweepSpec(task="digits-mlp", optimizers=(f"{path}:Bad",), lr_min=1e-2, lr_max=1e-1, points=2, epochs=1)


def _run_spec(path, spec: SweepSpec, executor) -> dict:
    with Store(path) as store:
        eid = store.create_experiment("sweep", spec.to_dict(), {})
        executor.run([Trial.of(c) for c in spec.configs()], store=store, experiment_id=eid, splits=SPLITS)
    return stored(path)


def test_a_ray_task_whose_run_raises_returns_it_failed_and_trains_the_others(tmp_path):
    """The body of a Ray task (called here without Ray): a run whose optimizer raises used to fail the whole task,
    and with it the command (a traceback, the other groups cancelled); it comes back failed with its error, as
    the local executor stores it."""
    from descentlab.experiments.executors import _ray_task

    configs = _failing_spec(tmp_path).configs()
    assert [c.hyperparameters["lr"] for c in configs] == pytest.approx([0.01, 0.1])
    small, big = _ray_task(configs, SPLITS, "cpu", True, 1)
    assert big["status"] == "failed" and big["error"] == "ValueError: my optimizer refuses big steps"
    assert small["status"] == "completed" and len(small["epochs"]) == 1 and small["error"] is None


@pytest.mark.slow
def test_ray_stores_a_failing_run_as_the_local_executor_does(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install 'descentlab[ray]' to run this test")
    spec = _failing_spec(tmp_path)
    local = _run_spec(tmp_path / "local.sqlite", spec, LocalExecutor(vectorize=True))
    ray = _run_spec(tmp_path / "ray.sqlite", spec, make_executor("ray", vectorize=True, num_cpus=2))
    assert sorted(r["status"] for r in local.values()) == ["completed", "failed"]
    assert ray == local  # the failed run with the same error, the other bitwise equal


def test_starting_ray_leaves_the_sigterm_handler_as_it_was(monkeypatch):
    """ray.init puts in its own SIGTERM handler (a C stack dump, then abort: exit -6 and a screenful on stderr
    instead of the command's one line and exit 143); the executor puts back the one it found."""
    import signal
    import types

    from descentlab.experiments.executors import RayExecutor

    def ray_init(**options):
        signal.signal(signal.SIGTERM, lambda *a: None)  # as Ray does (in C++)

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=ray_init)
    monkeypatch.setattr(RayExecutor, "__init__", lambda self: None)
    executor = RayExecutor()
    executor.ray, executor.address, executor.num_cpus = fake, None, 1

    def ours(*a):
        return None

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        assert executor._init() is True
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("address, message", [("127.0.0.1:1", "cannot reach the Ray cluster at '127.0.0.1:1'"),
                                              ("ray://127.0.0.1:1", "cannot reach"),
                                              ("host:port", "is not HOST:PORT")])
def test_an_unreachable_ray_address_is_one_line_at_once(monkeypatch, address, message):
    """ray.init retried an unreachable cluster address for minutes (over 2 here), printing its own warnings,
    after the data was loaded and the experiment made; the executor now refuses it when it is made."""
    import types

    from descentlab.experiments import executors

    def ray_init(**options):
        raise AssertionError("ray.init must not be reached")

    monkeypatch.setattr(executors, "_ray", lambda: types.SimpleNamespace(is_initialized=lambda: False, init=ray_init))
    with pytest.raises(UserError, match=message):
        make_executor("ray", ray_address=address)
