"""Schedules in experiment specs: one horizon per batch size, schedules crossed with learning rates, the spec and
each run's identity (resume never mixes schedules), and the updates a scheduled run stores."""

from __future__ import annotations

import pytest

from descentlab.errors import UserError
from descentlab.experiments.compare import CompareSpec
from descentlab.experiments.executors import make_executor
from descentlab.experiments.runner import open_experiment, pending
from descentlab.experiments.scheduling import MAX_LOGGED_STEPS
from descentlab.experiments.sweep import SweepSpec
from descentlab.schedules import Cosine, Warmup
from descentlab.store import Store
from descentlab.tasks import get_task


def test_each_batch_size_gets_its_own_horizon() -> None:
    spec = CompareSpec(task="digits-mlp", optimizers=("adam",), epochs=2, batch_sizes=("full", 1, 32), lr=0.01,
                       schedules=("cosine",))
    horizons = {c.batch_size: c.schedule.schedule.T_max for c in spec.configs(n_train=100)}
    assert horizons == {"full": 2, 1: 200, 32: 2 * 4}  # epochs × ceil(100 / batch)
    warm = CompareSpec(task="digits-mlp", optimizers=("adam",), epochs=2, batch_sizes=(32,), lr=0.01,
                       schedules=("cosine(warmup_steps=0.25)",)).configs(n_train=100)[0]
    assert warm.schedule.schedule == Warmup(Cosine(0.01, 6), 2)


def test_without_n_train_the_horizon_comes_from_the_tasks_training_split() -> None:
    n_train = len(get_task("digits-mlp").load().y_train)
    config = CompareSpec(task="digits-mlp", optimizers=("sgd",), epochs=3, schedules=("cosine",)).configs()[0]
    assert config.schedule.schedule.T_max == 3 * -(-n_train // 32) and config.schedule.schedule.base == 1e-3


def test_compare_crosses_schedules_and_the_spec_names_them() -> None:
    spec = CompareSpec(task="digits-mlp", optimizers=("sgd", "adam"), epochs=1, seeds=2,
                       schedules=("constant", "Cosine( eta_min=0 )"))
    configs = spec.configs(n_train=64)
    assert [(c.optimizer, c.schedule.label, c.seed) for c in configs] == [
        (o, s, seed) for o in ("sgd", "adam") for s in ("constant", "cosine(eta_min=0)") for seed in (0, 1)]
    assert spec.to_dict()["schedules"] == ["constant", "cosine(eta_min=0)"]
    assert "schedules" not in CompareSpec(task="digits-mlp").to_dict()  # older specs keep their identity


def test_sweep_crosses_schedules_with_learning_rates_each_rate_the_peak() -> None:
    spec = SweepSpec(task="digits-mlp", optimizers=("sgd",), lr_min=0.01, lr_max=0.1, points=2, epochs=1,
                     schedules=("constant", "cosine"))
    configs = spec.configs(n_train=64)
    assert [(c.schedule.label, c.hyperparameters["lr"]) for c in configs] == [
        ("constant", 0.01), ("constant", 0.1), ("cosine", 0.01), ("cosine", 0.1)]
    assert [c.schedule(0) for c in configs] == [0.01, 0.1, 0.01, 0.1]
    assert spec.to_dict()["schedules"] == ["constant", "cosine"] and "schedules" not in SweepSpec().to_dict()


@pytest.mark.parametrize("make", [
    lambda: CompareSpec(task="digits-mlp", schedules=("cosine(T_max=0)",)).configs(n_train=10),
    lambda: SweepSpec(task="digits-mlp", schedules=("nope",)).configs(n_train=10),
])
def test_a_bad_schedule_fails_while_building_the_configs(make) -> None:
    with pytest.raises(UserError):
        make()


def test_resume_never_mixes_runs_of_different_schedules(tmp_path) -> None:
    """Runs of one schedule finished in an experiment are no runs of another: the trial keys differ."""
    splits = get_task("digits-mlp").load()
    n = len(splits.y_train)
    base = dict(task="digits-mlp", optimizers=("sgd",), epochs=1, batch_sizes=("full",), lr=0.1)
    constant = CompareSpec(**base, schedules=("constant",)).configs(n_train=n)
    cosine = CompareSpec(**base, schedules=("cosine",)).configs(n_train=n)
    with Store(tmp_path / "s.sqlite") as store:
        eid, todo, done = open_experiment(store, "compare", {"k": 1}, constant)
        assert done == 0
        make_executor("local").run(todo, store=store, experiment_id=eid, splits=splits)
        assert pending(store, eid, constant) == ([], 1)
        todo, done = pending(store, eid, cosine)
        assert done == 0 and [t.config for t in todo] == cosine
        run = store.runs(eid)[0]
        assert run.config["schedule"]["label"] == "constant"
        steps = store.steps(run.id)
        assert [s["step"] for s in steps] == [0] and steps[0]["lr"] == 0.1  # the one full-batch update, logged


def test_a_vectorized_group_stores_its_thinned_updates(tmp_path) -> None:
    splits = get_task("digits-mlp").load()
    configs = CompareSpec(task="digits-mlp", optimizers=("sgd", "adam"), epochs=1, batch_sizes=(1,), lr=0.01,
                          schedules=("cosine",)).configs(n_train=len(splits.y_train))
    with Store(tmp_path / "s.sqlite") as store:
        eid, todo, _ = open_experiment(store, "compare", {"k": 2}, configs)
        make_executor("local", vectorize=True).run(todo, store=store, experiment_id=eid, splits=splits)
        for run, config in zip(store.runs(eid), configs):
            steps = store.steps(run.id)
            total = len(splits.y_train)  # batch 1: one update per example
            assert len(steps) <= MAX_LOGGED_STEPS < total and steps[-1]["step"] == total - 1
            assert all(s["lr"] == pytest.approx(config.schedule(s["step"])) for s in steps)
            assert store.epochs(run.id)[-1]["lr"] == pytest.approx(config.schedule(total - 1))
