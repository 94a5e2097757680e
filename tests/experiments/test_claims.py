"""Claims: a driver skips or waits for the groups another live process trains, and takes over stale ones."""

from __future__ import annotations

import threading
import time

from descentlab.experiments import executors
from descentlab.experiments.executors import LocalExecutor, plan_groups
from descentlab.experiments.runner import open_experiment
from descentlab.experiments.sweep import SweepSpec
from descentlab.store import Store
from descentlab.tasks import get_task

from .conftest import stored

SPEC = SweepSpec(task="digits-mlp", optimizers=("sgd",), lr_min=1e-2, lr_max=1e-1, points=2, epochs=1)
SPLITS = get_task("digits-mlp").load(val_fraction=0.1, seed=0)


def _open(store: Store, executor: LocalExecutor):
    return open_experiment(store, "sweep", SPEC.to_dict(), SPEC.configs(), splits=SPLITS,
                           execution=executor.identity())


def test_a_group_held_by_a_live_process_is_waited_for_not_trained_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "POLL_SECONDS", 0.05)
    path, executor = tmp_path / "runs.sqlite", LocalExecutor(vectorize=True, group_size=2)
    with Store(path) as other, Store(path) as mine:
        opened = _open(other, executor)
        [group] = plan_groups(opened.trials, vectorize=True, group_size=2)
        assert other.claim(opened.experiment_id, [t.row() for t in group]).status == "claimed"
        assert mine.claim(opened.experiment_id, [t.row() for t in group]).status == "busy"

        def finish_later() -> None:  # the other process trains its group and writes it a little later
            time.sleep(0.3)
            with Store(path) as same_owner:  # (a connection serves one thread: the other's, in this one)
                same_owner.owner = other.owner
                LocalExecutor(vectorize=True, group_size=2).run(opened.trials, store=same_owner,
                                                               experiment_id=opened.experiment_id, splits=SPLITS)

        waits: list = []
        thread = threading.Thread(target=finish_later)
        thread.start()
        outcome = executor.run(_open(mine, executor).trials, store=mine, experiment_id=opened.experiment_id,
                               splits=SPLITS, on_wait=lambda trials, holder: waits.append((len(trials), holder)))
        thread.join()
        assert waits == [(2, other.owner)]
        assert (outcome.trained, outcome.waited) == (0, 2)
    runs = stored(path)
    assert len(runs) == 2 and {r["status"] for r in runs.values()} == {"completed"}


def test_a_stale_claim_is_taken_over(tmp_path):
    path, executor = tmp_path / "runs.sqlite", LocalExecutor(vectorize=False)
    with Store(path) as dead, Store(path) as mine:
        opened = _open(dead, executor)
        for trial in opened.trials:
            dead.claim(opened.experiment_id, [trial.row()])
        dead._conn.execute("UPDATE runs SET lease_until = 0")  # its lease ran out: the process is gone
        outcome = executor.run(opened.trials, store=mine, experiment_id=opened.experiment_id, splits=SPLITS)
        assert (outcome.trained, outcome.waited) == (2, 0)
        assert {r.status for r in mine.runs(opened.experiment_id)} == {"completed"}


def test_the_data_and_the_execution_are_part_of_the_identity(tmp_path):
    import torch

    vec, one = LocalExecutor(vectorize=True, group_size=4), LocalExecutor(vectorize=True, group_size=1)
    changed = type(SPLITS)(**{**SPLITS.__dict__, "x_train": SPLITS.x_train + torch.finfo(torch.float32).eps})
    with Store(tmp_path / "runs.sqlite") as store:
        first = _open(store, vec).experiment_id
        assert _open(store, vec).experiment_id == first  # the same command resumes
        assert _open(store, one).experiment_id != first  # another group size: another experiment
        again = open_experiment(store, "sweep", SPEC.to_dict(), SPEC.configs(), splits=changed,
                                execution=vec.identity())
        assert again.experiment_id not in (first, first + 1)  # other data: another experiment
        data = store.experiment(first).spec["data"]
        assert data["shapes"]["x_train"] == list(SPLITS.x_train.shape) and data["dtypes"] == {"x": "float32",
                                                                                            "y": "int64"}


def test_a_trial_taken_over_mid_run_is_left_to_its_new_owner_and_the_others_go_on(tmp_path):
    """One by one, this process's claim on its first trial runs out mid-run and another process takes it over:
    the trial is left to that process (not written into, not reported as trained here), the next one trains."""
    from descentlab.train import Callback

    spec = SweepSpec(task="digits-mlp", optimizers=("sgd",), lr_min=1e-2, lr_max=1e-1, points=2, epochs=2)
    path, executor = tmp_path / "runs.sqlite", LocalExecutor(vectorize=False)
    with Store(path) as mine, Store(path) as other:
        opened = open_experiment(mine, "sweep", spec.to_dict(), spec.configs(), splits=SPLITS,
                                 execution=executor.identity())
        first = opened.trials[0]

        class TakenOver(Callback):  # after this process stored the first epoch of the first trial
            def on_epoch_end(self, epoch, metrics):
                if epoch == 1:
                    mine._conn.execute("UPDATE runs SET lease_until = 0 WHERE trial_key = ?", (first.key,))
                    assert other.claim(opened.experiment_id, [first.row()]).status == "claimed"

        seen = []
        outcome = executor.run(opened.trials, store=mine, experiment_id=opened.experiment_id, splits=SPLITS,
                               callbacks=lambda t: [TakenOver()] if t is first else [],
                               on_result=lambda t, r: seen.append(t.key))
        assert (outcome.trained, outcome.finished_elsewhere) == (1, 1) and seen == [opened.trials[1].key]
        runs = {r.trial_key: r for r in mine.runs(opened.experiment_id)}
        assert runs[first.key].status == "running" and runs[first.key].summary is None
        assert mine.epochs(runs[first.key].id) == []  # reset by its new owner, nothing written into it since
        assert runs[opened.trials[1].key].status == "completed"


def test_two_processes_replacing_a_superseded_experiment_at_once_share_the_replacement(tmp_path, monkeypatch):
    """The experiment holds a finished trial made by other code (descentlab was upgraded): both processes decide
    to make a new experiment; the second used to make another one, so that the two split the work between two
    experiments of the same spec. Raced here by running the second process's open inside the first one's."""
    from descentlab.experiments import runner
    from descentlab.store import TrialResult, trial_key

    path, executor = tmp_path / "runs.sqlite", LocalExecutor(vectorize=False)
    with Store(path) as a, Store(path) as b:
        old = _open(a, executor).experiment_id
        config = {**SPEC.configs()[0].to_dict(), "descentlab": "0.0.1"}  # the same trial, by an older version
        a.record_runs(old, [TrialResult(trial_key(config), "digits-mlp", "sgd", 0, config)])

        real, seen = runner.superseded, []

        def racing(store, experiment_id, configs):
            seen.append(experiment_id)
            if len(seen) == 1:  # a decided; b opens the same experiment before a makes the new one
                seen.append(("b", _open(b, executor).experiment_id))
            return real(store, experiment_id, configs)

        monkeypatch.setattr(runner, "superseded", racing)
        mine = _open(a, executor).experiment_id
        assert seen == [old, old, ("b", old + 1)]  # both found the old one superseded; b made the new one
        assert mine == old + 1 and len(a.experiments()) == 2
