"""Fault injection: every case runs ``descentlab`` as a real subprocess and checks what a user would see.

- SIGKILL at several points, including in the middle of writing a vectorized group (``DESCENTLAB_FAULT``, the
  store's test hook): the same command then finishes the sweep, every stored number is bitwise equal to an
  uninterrupted run's, nothing is lost or stored twice, and ``PRAGMA integrity_check`` says ok.
- Several identical commands at once on one store: one experiment, each trial trained and stored once.
- Damaged stores, bad paths, unwritable folders, bad data: exit code 2 and ONE line on stderr, no traceback.

The error cases start together (they only import and check), so the module costs about as much as its
training runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from descentlab.store import Store
from tests.data.conftest import make_arrays, write_idx_dir
from tests.experiments.conftest import stored

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ENV.pop("DESCENTLAB_FAULT", None)
SWEEP = ["sweep", "--task", "digits-mlp", "--optimizers", "adam,sgd", "--lr", "1e-3..1e-1", "--points", "3",
         "--epochs", "2", "--group-size", "4", "--quiet"]  # 6 trials in 2 vectorized groups: 4 + 2
COMPARE = ["compare", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--seeds", "2", "--epochs", "2", "--quiet"]


def _start(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "descentlab", *map(str, args)], env=env or ENV, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


# -- crash and resume --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("reference") / "clean.sqlite"
    code, out, err = _finish(_start([*SWEEP, "--store", path]))
    assert code == 0, err
    return stored(path)


def _kill_when_running(proc: subprocess.Popen, path: Path, sig: int = signal.SIGKILL) -> None:
    """SIGKILL (or ``sig``) ``proc`` as soon as it has claimed a trial (rows ``running``), before anything is
    finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(sqlite3.Error), contextlib.closing(
                sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as conn:
            if conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]:
                break
        time.sleep(0.01)
    proc.send_signal(sig)


@pytest.mark.parametrize("kill", ["claimed", "record_runs:2", "record_runs:5"])
def test_sigkill_then_rerun_stores_what_an_uninterrupted_run_stores(tmp_path, reference, kill):
    """``claimed``: killed while training the first group; ``record_runs:2``: killed mid-write of the first
    group (2 of its 4 runs written, uncommitted); ``record_runs:5``: mid-write of the second group."""
    path = tmp_path / "killed.sqlite"
    if kill == "claimed":
        proc = _start([*SWEEP, "--store", path])
        _kill_when_running(proc, path)
    else:
        proc = _start([*SWEEP, "--store", path], env={**ENV, "DESCENTLAB_FAULT": kill})
    code, _, _ = _finish(proc)
    assert code == -signal.SIGKILL
    finished_before = len([r for r in stored(path).values() if r["status"] == "completed"])
    assert finished_before == {"claimed": 0, "record_runs:2": 0, "record_runs:5": 4}[kill]  # whole groups only
    if kill == "claimed":  # the killed process's trials are listed as what they are, not as still running
        code, out, err = _finish(_start(["runs", "last", "--store", path]))
        assert code == 0 and "interrupted (stopped " in out and "│ running " not in out, out + err
        assert "the same command, run again, trains it" in out

    code, out, err = _finish(_start([*SWEEP, "--store", path]))  # the same command
    assert code == 0 and err == "", err
    if finished_before:
        assert f"({finished_before} already in the store, resumed)" in out
    got = stored(path)  # asserts that no trial is stored twice
    assert got == reference  # every trial, every epoch, every number bitwise equal (timings left out)
    assert _rows(path) == 6 and _integrity(path) == "ok"
    with Store(path) as store:
        assert len(store.experiments()) == 1


def test_identical_commands_at_once_share_the_work(tmp_path):
    """Three identical commands at once, one by one (each writes its runs epoch by epoch: before claims, two
    processes wrote epochs into the same run row and one died of an IntegrityError). The vectorized case, where
    the loser used to train everything and then fail, is tests/experiments/test_claims.py's."""
    path = tmp_path / "shared.sqlite"
    procs = [_start([*COMPARE, "--no-vectorize", "--store", path]) for _ in range(3)]
    results = [_finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0] * 3, [err for _, _, err in results]
    assert all(err == "" for _, _, err in results)
    with Store(path) as store:
        assert len(store.experiments()) == 1  # one experiment, not one per process
        runs = store.runs("last")
        assert len({r.trial_key for r in runs}) == len(runs) == 4
        assert {r.status for r in runs} == {"completed"}
        assert all(len(store.epochs(r.id)) == 2 for r in runs)
    assert _integrity(path) == "ok"


# -- errors: one line, exit 2 ------------------------------------------------------------------------------------


def _damaged_store(folder: Path) -> Path:
    """A store with several pages of runs whose pages after the first are overwritten with garbage."""
    path = folder / "damaged.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("compare", {"task": "digits-mlp"}, {"python": "3"})
        for i in range(40):
            store.record_run(exp, f"key{i}", task="digits-mlp", optimizer="sgd", seed=i,
                             config={"i": i, "pad": "x" * 300}, epochs=[{"val_acc": 0.5}], status="completed",
                             summary={})
    size = path.stat().st_size
    assert size > 8 * 4096
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(bytes(np.random.default_rng(0).integers(0, 256, size - 4096, dtype=np.uint8)))
    return path


def _bad_json_store(folder: Path) -> Path:
    path = folder / "badjson.sqlite"
    with Store(path) as store:
        exp = store.create_experiment("compare", {"task": "digits-mlp"}, {"python": "3"})
        store.record_run(exp, "k", task="digits-mlp", optimizer="sgd", seed=0, config={"a": 1}, epochs=[],
                         status="completed", summary={})
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE runs SET config_json = '{\"a\": 1'")
        conn.commit()
    return path


def _cases(root: Path) -> dict[str, tuple[list, dict, str]]:
    """name -> (arguments, extra environment, a piece of the expected error line)."""
    a_file = root / "a-file"
    a_file.write_text("not a folder")
    damaged, bad_json = _damaged_store(root), _bad_json_store(root)
    small = write_idx_dir(root / "small-images", {**make_arrays(), "x_train": np.zeros((50, 14, 14), np.uint8)})
    tiny = ["--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1"]
    return {
        "damaged store: runs": (["runs", "--experiment", "1", "--store", damaged], {}, "damaged.sqlite"),
        "damaged store: report": (["report", "1", "--html", root / "r.html", "--store", damaged], {}, "damaged"),
        "damaged store: compare": (["compare", *tiny, "--store", damaged], {}, "damaged.sqlite"),
        "store under a file": (["compare", *tiny, "--store", a_file / "s.sqlite"], {}, "cannot create the folder"),
        "store is a folder": (["compare", *tiny, "--store", root], {}, "is a folder"),
        "default store under a file": (["compare", *tiny], {"DESCENTLAB_STORE": str(a_file / "runs.sqlite")},
                                       "cannot create the folder"),
        # (matplotlib, imported by the report code, warns about the same cache itself unless told where to go)
        "MNIST-1D cache under a file": (["compare", "--optimizers", "sgd", "--epochs", "1", "--store",
                                         root / "c.sqlite"], {"XDG_CACHE_HOME": str(a_file),
                                                              "MPLCONFIGDIR": str(root / "mpl")}, "MNIST-1D cache"),
        "data dir is a file": (["compare", "--task", "mnist-mlp", "--optimizers", "sgd", "--data-dir", a_file,
                                "--store", root / "d.sqlite"], {}, "is a file, not a folder"),
        "IDX images not 28x28": (["compare", "--task", "mnist-mlp", "--optimizers", "sgd", "--data-dir", small,
                                  "--store", root / "e.sqlite"], {}, "expected [N, 28, 28]"),
        "--json into a missing folder": (["compare", *tiny, "--json", root / "nowhere" / "x.json", "--store",
                                          root / "f.sqlite"], {}, "does not exist"),
        "trace --png into a folder": (["trace", "--png", root], {}, "is a folder"),
        "trace --png missing folder": (["trace", "--png", root / "nowhere" / "p.png"], {}, "does not exist"),
        "trace --gif x.txt": (["trace", "--gif", root / "x.txt"], {}, "use a .gif file name"),
        "huge experiment id": (["runs", "--experiment", "9" * 30, "--store", bad_json], {}, "no experiment 9999"),
        "malformed stored JSON": (["runs", "--experiment", "1", "--store", bad_json], {}, "malformed JSON"),
    }


# These run as subprocesses (all at once); the others in this process through ``main()``, which is the same code
# path minus the interpreter start (an escaping exception would fail the test just the same).
SUBPROCESS = ("damaged store: runs", "MNIST-1D cache under a file", "malformed stored JSON")


@pytest.fixture(scope="module")
def fault_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def cases(fault_root) -> dict[str, tuple[list, dict, str]]:
    return _cases(fault_root)


@pytest.fixture(scope="module")
def outcomes(fault_root, cases) -> dict[str, tuple[int, str, str]]:
    procs = {name: _start(cases[name][0], env={**ENV, "HOME": str(fault_root / "home"), **cases[name][1]},
                          cwd=fault_root) for name in SUBPROCESS}
    return {name: _finish(proc) for name, proc in procs.items()}


CASES = ["damaged store: runs", "damaged store: report", "damaged store: compare", "store under a file",
         "store is a folder", "default store under a file", "MNIST-1D cache under a file", "data dir is a file",
         "IDX images not 28x28", "--json into a missing folder", "trace --png into a folder",
         "trace --png missing folder", "trace --gif x.txt", "huge experiment id", "malformed stored JSON"]


def _in_process(args: list, env: dict[str, str], monkeypatch, capsys) -> tuple[int, str, str]:
    from descentlab.cli import main
    from descentlab.data import sources

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sources.clear_caches()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES)
def test_every_failure_is_one_line_and_exit_2(outcomes, cases, case, monkeypatch, capsys):
    args, env, expected = cases[case]
    code, out, err = outcomes[case] if case in SUBPROCESS else _in_process(args, env, monkeypatch, capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("descentlab ") and ": error: " in err
    assert expected in err, err


def test_the_fault_cases_are_all_listed(tmp_path):
    assert sorted(_cases(tmp_path)) == sorted(CASES)


def test_nothing_is_trained_before_a_bad_output_path_is_refused(tmp_path, monkeypatch, capsys):
    store = tmp_path / "never.sqlite"
    args = ["compare", "--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1", "--store", store]
    for flag, value in (("--json", tmp_path / "nowhere" / "x.json"), ("--json", tmp_path)):
        code, _, err = _in_process([*args, flag, value], {}, monkeypatch, capsys)
        assert code == 2 and flag in err
    assert not store.exists()  # refused before the store was even opened, let alone anything trained


def test_a_store_path_with_brackets_is_printed_as_it_is(tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs[bold]x[/].sqlite"  # rich markup, if it were not escaped
    code, out, err = _in_process(["compare", "--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1",
                                  "--quiet", "--store", path], {}, monkeypatch, capsys)
    assert code == 0, err
    assert f"in {path}" in out
    code, out, err = _in_process(["runs", "--store", path], {}, monkeypatch, capsys)
    assert code == 0 and "[bold]x[/]" in out.replace("\n", ""), err


# -- values that make no sense: refused by every command alike -----------------------------------------------------

TINY_COMPARE = ["compare", "--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1"]
TINY_SWEEP = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1", "--lr", "1e-3..1e-1"]


@pytest.mark.parametrize("argv, expected", [
    ([*TINY_COMPARE, "--lr", "inf"], "--lr inf must be a finite number > 0"),
    ([*TINY_COMPARE, "--lr", "1e400"], "--lr 1e400 must be a finite number > 0"),
    (["trace", "--lr", "1e400"], "--lr 1e400 must be a finite number > 0"),
    ([*TINY_SWEEP, "--hp", "eps=inf"], "--hp eps inf is not a finite number"),
    (["trace", "--start=nan,1"], "--start nan is not a finite number"),
    ([*TINY_SWEEP, "--points", "1"], "--points 1 would sweep only 0.001 of the range"),
    ([*TINY_COMPARE, "--batch-size", "5000"], "--batch-size 5000 is larger than the 1294 training examples"),
    ([*TINY_SWEEP, "--batch-size", "5000"], "--batch-size 5000 is larger than the 1294 training examples"),
    (["compare", "--task", "digits-mlp", "--optimizers", "sgd,SGD"], "names sgd twice"),
    ([*TINY_COMPARE, "--batch-size", "32,32"], "gives 32 twice"),
    (["trace", "--gif", "x.txt"], "--gif 'x.txt': use a .gif file name"),
    ([*TINY_COMPARE, "--seeds", "9" * 30], "is too large; at most 10000"),
])
def test_values_that_make_no_sense_are_refused_alike(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, _, err = _in_process([*argv, *(["--store", tmp_path / "s.sqlite"] if argv[0] != "trace" else [])], {},
                               monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store was opened


def test_names_are_case_insensitive_and_stored_lower_case(tmp_path, monkeypatch, capsys):
    store = tmp_path / "s.sqlite"
    for optimizers in ("SGD", "sgd"):
        args = ["compare", "--task", "Digits-MLP", "--optimizers", optimizers, "--epochs", "1", "--store", store]
        assert _in_process(args, {}, monkeypatch, capsys)[0] == 0
    with Store(store) as s:
        [experiment] = s.experiments()  # one experiment, resumed the second time
        assert experiment.spec["task"] == "digits-mlp" and experiment.spec["optimizers"] == ["sgd"]


def test_sigterm_stops_like_ctrl_c_lets_go_of_its_claims_and_the_same_command_resumes(tmp_path, monkeypatch,
                                                                                     capsys):
    """SIGTERM (``kill``, a job scheduler) used to kill the command on the spot: no message, the trial it held
    claimed until its lease ran out (60 s for another host sharing the store). Sent here mid-run (this process,
    so the test's own handler stands in when the command sets none)."""
    from descentlab.cli import main
    from descentlab.store import store as store_module

    args = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd", "--lr", "1e-2..1e-1", "--points", "2",
            "--epochs", "2", "--no-vectorize", "--quiet"]
    received = []
    previous = signal.signal(signal.SIGTERM, lambda *a: received.append("test"))
    try:
        real = store_module.Store.record_epoch

        def terminated(self, run_id, epoch, metrics):
            real(self, run_id, epoch, metrics)
            os.kill(os.getpid(), signal.SIGTERM)  # after the first epoch of the first run

        monkeypatch.setattr(store_module.Store, "record_epoch", terminated)
        code = main([*args, "--store", str(tmp_path / "killed.sqlite")])
        mine = signal.getsignal(signal.SIGTERM)
        monkeypatch.setattr(store_module.Store, "record_epoch", real)
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert received == [] and code == 128 + signal.SIGTERM, err
    assert err == "descentlab sweep: terminated (SIGTERM); finished runs are kept in the store\n"
    assert mine is not previous and getattr(mine, "__name__", "") == "<lambda>"  # the test's handler is back
    with Store(tmp_path / "killed.sqlite") as store:
        [run] = store.runs("last")
        assert run.status == "failed" and run.summary == {"error": "KeyboardInterrupt"}
        leases = store._conn.execute("SELECT lease_until FROM runs WHERE status = 'running'").fetchall()
        assert all(lease == 0 for (lease,) in leases)  # nothing left claimed

    assert main([*args, "--store", str(tmp_path / "killed.sqlite")]) == 0
    assert main([*args, "--store", str(tmp_path / "clean.sqlite")]) == 0
    assert stored(tmp_path / "killed.sqlite") == stored(tmp_path / "clean.sqlite")


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys):
    """Ctrl-C in the first moments (the command's modules loading) printed a KeyboardInterrupt traceback."""
    import descentlab.cli as cli

    def interrupted(only=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["sweep", "--help"]) == 130
    assert capsys.readouterr().err == "descentlab: interrupted\n"


def test_ctrl_c_swallowed_inside_a_librarys_import_still_exits_130(monkeypatch, capsys):
    """A Ctrl-C that lands inside numpy's import (under torch's) is lost there and leaves numpy half imported; what
    escaped was a later ImportError or RecursionError: a traceback and exit 1. The Ctrl-C is remembered."""
    import descentlab.cli as cli
    import descentlab.cli.trace as trace

    def run(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # (the signal is handled before this ends)
        except KeyboardInterrupt:
            pass  # swallowed, as a C extension's initialization does
        raise ImportError("cannot load module more than once per process")

    monkeypatch.setattr(trace, "run", run)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["trace"]) == 130
    assert capsys.readouterr().err == "descentlab: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is before  # in-process: the caller's handler is back
    monkeypatch.setattr(trace, "run", lambda args: (_ for _ in ()).throw(ImportError("a real one")))
    with pytest.raises(ImportError, match="a real one"):  # without a Ctrl-C, an error stays what it is
        cli.main(["trace"])


def _sigint_after(line: str, args: list[str]) -> tuple[int, str]:
    """Run the command as a program, send it SIGINT 0.3 s after its standard output shows ``line`` (or as soon as
    a trial is running, for ``line`` "running"), and return its exit status and standard error."""
    proc = _start(args)
    if line == "running":
        _kill_when_running(proc, Path(args[args.index("--store") + 1]), signal.SIGINT)
    else:
        for out in proc.stdout:
            if out.startswith(line):
                break
        time.sleep(0.3)  # past the command's last steps (closing the store): into the interpreter's shutdown
        proc.send_signal(signal.SIGINT)
    code, _, err = _finish(proc)
    return code, err


def test_ctrl_c_exits_130_while_training_and_never_dies_of_the_signal_after(tmp_path):
    """Ctrl-C while training: 130 and one line. Ctrl-C once the command has printed its last line used to land
    in the interpreter's shutdown (about a second with torch loaded), which then died of the signal: exit status
    -2, no message, after everything had been done and said; the status is now the command's own."""
    args = [*COMPARE, "--epochs", "50", "--no-vectorize", "--store", str(tmp_path / "a.sqlite")]
    code, err = _sigint_after("running", args)
    # the trial is claimed a moment before it trains: a Ctrl-C that lands in a library's import there is lost
    # inside it, and what escapes gets the general line (still 130, one line); under load that happens. Also
    # under load, a Ctrl-C in that moment has been seen (about 1 in 5 with a CPU hog beside it, a 0.02 s delay)
    # to end the process by the signal (-2) AFTER its one line was printed, no traceback: not yet understood
    # (README, "Ctrl-C"); what is asserted is what always holds: the one line, and 130 or that -2
    assert code in (130, -signal.SIGINT) and err in (
        "descentlab compare: interrupted; finished runs are kept in the store\n", "descentlab: interrupted\n"), err
    code, err = _sigint_after("Report:", [*COMPARE, "--store", str(tmp_path / "b.sqlite")])
    assert code in (0, 130) and "Traceback" not in err, (code, err)
