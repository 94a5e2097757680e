"""``descentlab export`` and the DataFrame accessor, read back with the libraries that own the formats:
TensorBoard's EventAccumulator (scalars and the HParams plugin's data), pandas.read_csv, pandas.read_parquet and
pyarrow. The export only reads the store."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas
import pyarrow.parquet
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import descentlab
from descentlab.cli import main
from descentlab.errors import UserError
from descentlab.store import Store
from tests.cli.harness import run_cli as _run


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A compare of two optimizers, two epochs, two batch sizes (one of them 'full': a column of text and numbers)."""
    store = tmp_path_factory.mktemp("export") / "runs.sqlite"
    code, _ = _run(["compare", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--epochs", "2", "--batch-size",
                    "full,64", "--schedule", "cosine", "--quiet", "--store", str(store)])
    assert code == 0
    return store


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_contents(store: Path) -> tuple[list, dict, dict]:
    with Store(store, read_only=True) as s:
        runs = s.runs("last")
        return runs, {r.id: s.epochs(r.id) for r in runs}, {r.id: s.steps(r.id) for r in runs}


def test_tensorboard_one_run_per_run_with_epochs_updates_and_hparams(stored: Path, tmp_path: Path) -> None:
    before = _digest(stored)
    code, out = _run(["export", "last", "--store", str(stored), "--tensorboard", str(tmp_path / "tb")])
    assert code == 0 and "wrote 4 TensorBoard runs" in out
    assert _digest(stored) == before  # only read
    runs, epochs, steps = _store_contents(stored)
    folders = sorted((tmp_path / "tb" / "compare-1").iterdir())
    assert len(folders) == len(runs) == 4
    for run in runs:
        [folder] = [f for f in folders if f.name.startswith(f"run-{run.id}_")]
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        tags = events.Tags()["scalars"]
        for name in ("val_loss", "val_acc", "train_loss", "test_acc"):
            got = [(e.step, e.value) for e in events.Scalars(f"epoch/{name}")]
            want = [(e["epoch"], e[name]) for e in epochs[run.id]]
            assert [s for s, _ in got] == [s for s, _ in want]
            assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)  # stored as float32
        assert steps[run.id], "every compare run logs its updates"
        for name in ("loss", "lr"):
            got = events.Scalars(f"update/{name}")
            assert [e.step for e in got] == [s["step"] for s in steps[run.id]]
            assert [e.value for e in got] == pytest.approx([s[name] for s in steps[run.id]], rel=1e-6)
        assert "final/val_acc" in tags

        content = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hp = {k: v for k, v in start.session_start_info.hparams.items()}
        assert hp["optimizer"].string_value == run.optimizer
        assert hp["lr"].number_value == pytest.approx(run.config["hyperparameters"]["lr"])
        assert hp["batch_size"].string_value == str(run.config["batch_size"])
        assert hp["seed"].number_value == run.seed and hp["schedule"].string_value == "cosine"
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        metrics = {m.name.tag for m in experiment.metric_infos}
        assert {"final/val_acc", "final/val_loss", "final/test_acc"} <= metrics


def test_csv_and_parquet_one_row_per_run_and_epoch(stored: Path, tmp_path: Path) -> None:
    csv, parquet = tmp_path / "runs.csv", tmp_path / "runs.parquet"
    assert _run(["export", "--store", str(stored), "--csv", str(csv), "--parquet", str(parquet)])[0] == 0
    with Store(stored, read_only=True) as s:
        records = s.to_records("last")
    runs, epochs, _ = _store_contents(stored)
    assert len(records) == sum(len(e) for e in epochs.values())
    for frame in (pandas.read_csv(csv), pandas.read_parquet(parquet), pyarrow.parquet.read_table(parquet).to_pandas()):
        assert list(frame.columns) == list(records[0])
        assert len(frame) == len(records)
        assert list(zip(frame["run_id"], frame["epoch"])) == [(r["run_id"], r["epoch"]) for r in records]
        assert list(frame["val_acc"]) == pytest.approx([r["val_acc"] for r in records])
        assert sorted(set(frame["config.batch_size"].astype(str))) == ["64", "full"]
    table = pyarrow.parquet.read_table(parquet)
    assert table.schema.field("val_loss").type == pyarrow.float64()


def test_dataframe_accessor(stored: Path) -> None:
    result = descentlab.load_experiment("last", store=stored)
    frame = result.dataframe()
    assert isinstance(frame, pandas.DataFrame)
    with Store(stored, read_only=True) as s:
        records = s.to_records("last")
    assert list(frame.columns) == list(records[0]) and len(frame) == len(records)
    assert list(frame["test_acc"]) == pytest.approx([r["test_acc"] for r in records])
    with pytest.raises(UserError, match="no results store"):
        descentlab.load_experiment(store=stored.with_name("none.sqlite"))


def test_a_clear_error_without_pandas(stored: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(UserError, match=r"needs 'pandas', which is not installed: pip install 'descentlab\[export\]'"):
        descentlab.load_experiment("last", store=stored).dataframe()
    assert main(["export", "--store", str(stored), "--parquet", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("descentlab export: error: --parquet needs 'pandas', which is not installed: "
                           "pip install 'descentlab[export]'")
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize(("extra", "message"), [
    ([], "say what to write: --tensorboard DIR, --csv FILE and/or --parquet FILE"),
    (["--csv", "out.txt"], "use a .csv file name"),
    (["--parquet", "nowhere/x.parquet"], "does not exist"),
    (["--tensorboard", "nowhere/tb"], "folder nowhere does not exist"),
    (["99", "--csv", "x.csv"], "99"),
])
def test_bad_input_is_one_line_and_exit_2(stored: Path, extra: list[str], message: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--store", str(stored), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_an_experiment_exported_before_is_not_overwritten(stored: Path, tmp_path: Path, capsys) -> None:
    assert _run(["export", "--store", str(stored), "--tensorboard", str(tmp_path)])[0] == 0
    assert main(["export", "--store", str(stored), "--tensorboard", str(tmp_path)]) == 2
    assert "already there" in capsys.readouterr().err
    assert len(list((tmp_path / "compare-1").iterdir())) == 4


def test_an_interrupted_tensorboard_export_leaves_nothing_the_next_one_refuses(stored: Path, tmp_path: Path,
                                                                                monkeypatch, capsys) -> None:
    """Interrupted after its first run (Ctrl-C), the export used to leave a half ``compare-1`` folder that the
    same command then refused as "exported before"; now the folder appears only whole."""
    from descentlab.report import tensorboard

    real, calls = tensorboard.final_metrics, []

    def interrupted(run):
        calls.append(run)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(run)

    monkeypatch.setattr(tensorboard, "final_metrics", interrupted)
    assert main(["export", "--store", str(stored), "--tensorboard", str(tmp_path)]) == 130
    assert not (tmp_path / "compare-1").exists()
    monkeypatch.setattr(tensorboard, "final_metrics", real)
    code, out = _run(["export", "--store", str(stored), "--tensorboard", str(tmp_path)])
    assert code == 0 and "wrote 4 TensorBoard runs" in out, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare-1"]
    assert len(list((tmp_path / "compare-1").iterdir())) == 4


def test_an_experiment_with_no_runs_yet_exports_empty(tmp_path: Path) -> None:
    """Killed right after it was created, an experiment has no runs: every format is written, empty."""
    store = tmp_path / "runs.sqlite"
    with Store(store) as s:
        s.create_experiment("sweep", {"task": "digits-mlp"}, {})
    code, out = _run(["export", "--store", str(store), "--tensorboard", str(tmp_path / "tb"), "--csv",
                      str(tmp_path / "e.csv"), "--parquet", str(tmp_path / "e.parquet")])
    assert code == 0 and "wrote 0 TensorBoard runs" in out
    assert list((tmp_path / "tb" / "sweep-1").iterdir()) == []
    assert (tmp_path / "e.csv").read_text().startswith("experiment_id,experiment_kind,")
    assert len(pandas.read_parquet(tmp_path / "e.parquet")) == 0
