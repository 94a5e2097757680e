"""``--spec FILE.toml`` of compare, sweep and benchmark: the file's keys are the flags, flags given win, bad keys and
values are one line (exit 2); the report's spec file reruns the same experiment (same identity, same numbers)."""

from __future__ import annotations

import contextlib
import html
import io
import json
from pathlib import Path

import pytest

from descentlab.cli import benchmark as benchmark_cli
from descentlab.cli import build_parser, main
from descentlab.cli import compare as compare_cli
from descentlab.cli import sweep as sweep_cli
from descentlab.cli.spec_option import apply_spec_file
from descentlab.specfile import flags_of, to_toml
from tests.cli.harness import run_cli as _run


def _args(argv: list[str]):
    args = build_parser().parse_args(argv)
    apply_spec_file(args)
    return args


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


COMPARE = ["compare", "--task", "digits-mlp", "--optimizers", "sgd,adam(lr=0.003)", "--epochs", "2", "--batch-size",
           "full,32", "--lr", "0.05", "--seeds", "2", "--preset", "keras",
           "--schedule", "constant,cosine(warmup_steps=0.1)"]
SWEEP = ["sweep", "--task", "digits-mlp", "--optimizers", "sgd,momentum", "--lr", "1e-3..0.3", "--points", "3",
         "--epochs", "1", "--batch-size", "16", "--momentum", "0.8,1", "--weight-decay", "0,1e-4", "--hp",
         "nesterov=true,false", "--hp", "dampening=0", "--schedule", "cosine"]
BENCHMARK = ["benchmark", "--tasks", "digits-mlp,mnist1d-mlp", "--optimizers", "sgd,adam(eps=1e-06)", "--budget",
             "1,4,8", "--seeds", "2", "--epochs", "3", "--preset", "keras", "--search-seed", "7", "--group-size", "8"]


@pytest.mark.parametrize(("argv", "module"), [(COMPARE, compare_cli), (SWEEP, sweep_cli), (BENCHMARK, benchmark_cli)],
                         ids=["compare", "sweep", "benchmark"])
def test_the_spec_file_of_a_spec_gives_the_same_spec(argv, module, tmp_path: Path) -> None:
    """flags → stored spec → TOML → --spec → the same stored spec (the experiment's identity), exactly."""
    args = _args([*argv, "--no-vectorize"])
    group = 8 if argv[0] == "benchmark" else 16
    stored = {**module.spec_from(args).to_dict(),
              "execution": {"vectorize": False, "group_size": group, "device": "cpu"}}
    path = _write(tmp_path, to_toml(argv[0], stored))
    back = _args([argv[0], "--spec", str(path)])
    again = module.spec_from(back).to_dict()
    spec = {k: v for k, v in stored.items() if k != "execution"}
    assert again == spec
    assert json.dumps(again) == json.dumps(spec)  # the same types too (1.0 stays a float, 0 an int)
    assert back.vectorize is False
    if argv[0] in ("sweep", "benchmark"):
        assert (back.group_size, back.device) == (str(group), "cpu")


def test_flags_given_win_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'task = "digits-mlp"\noptimizers = ["sgd", "adam"]\nepochs = 3\nseeds = 2\n'
                            'batch_size = 32\nquiet = true\nvectorize = false\n')
    args = _args(["compare", "--spec", str(path), "--epochs", "1", "--vectorize"])
    spec = compare_cli.spec_from(args)
    assert (spec.task, spec.optimizers, spec.epochs, spec.seeds, spec.batch_sizes) == \
        ("digits-mlp", ("sgd", "adam"), 1, 2, (32,))
    assert args.quiet is True and args.vectorize is True
    args = _args(["compare", "--seeds", "1", "--spec", str(path)])  # a flag at its default value still wins
    assert compare_cli.spec_from(args).seeds == 1


def test_hp_as_a_table(tmp_path: Path) -> None:
    path = _write(tmp_path, 'optimizers = "adam"\nlr = "1e-3..1e-2"\n[hp]\neps = [1e-8, 1e-6]\nbeta2 = 0.99\n')
    spec = sweep_cli.spec_from(_args(["sweep", "--spec", str(path), "--task", "digits-mlp"]))
    assert spec.grid == (("eps", (1e-8, 1e-6)), ("beta2", (0.99,)))
    assert (spec.lr_min, spec.lr_max) == (1e-3, 1e-2)


@pytest.mark.parametrize(("text", "message"), [
    ("epoch = 3\n", "unknown key 'epoch' (did you mean 'epochs'?); allowed: task, data, label-column"),
    ("optimzers = ['adam']\n", "unknown key 'optimzers' (did you mean 'optimizers'?)"),
    ("batch_sise = 32\n", "unknown key 'batch_sise' (did you mean 'batch-size'?)"),
    ("epochs = 'three'\n", "--epochs 'three' is not a whole number"),
    ("epochs = 0\n", "--epochs 0 must be ≥ 1"),
    ("epochs = [1, 2]\n", "--epochs '1,2' is not a whole number"),
    ("lr = inf\n", "--lr inf must be a finite number > 0"),
    ("preset = 'pytorch'\n", "preset = 'pytorch': choose one of torch, keras"),
    ("quiet = 1\n", "quiet = 1: must be true or false"),
    ("optimizers = [['sgd']]\n", "give a text, a number or a list of them"),
    ("optimizers = ['sgd', 'nope']\n", "'nope'"),
    ("task = 'digits-mlp'\n[epochs]\nx = 1\n", "give a text, a number or a list of them"),
    ("epochs = \n", "not valid TOML"),
])
def test_bad_keys_and_values_are_one_line_and_exit_2(text: str, message: str, tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, text)
    code = main(["compare", "--spec", str(path), "--store", str(tmp_path / "r.sqlite")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("descentlab compare: error: ")
    assert message in err
    assert not (tmp_path / "r.sqlite").exists()  # refused before anything ran or was stored


def test_a_missing_spec_file(tmp_path: Path, capsys) -> None:
    assert main(["sweep", "--spec", str(tmp_path / "none.toml")]) == 2
    err = capsys.readouterr().err
    assert err == f"descentlab sweep: error: --spec {tmp_path / 'none.toml'}: no such file\n"


def test_a_users_data_task_is_written_as_data() -> None:
    spec = {"task": "data-1234", "optimizers": ["sgd"], "seeds": 1, "preset": "torch", "task_source": "x/my.csv"}
    assert flags_of("compare", spec)["data"] == "x/my.csv" and "task" not in flags_of("compare", spec)
    assert flags_of("lr-find", {"task": "t", "optimizer": "adam"}) is None



def test_round_trip_through_the_report(tmp_path: Path) -> None:
    """compare from flags → the spec file the report shows → compare --spec: the same experiment (resumed, nothing
    trained again) and, in a fresh store, the same numbers."""
    argv = ["compare", "--task", "digits-mlp", "--optimizers", "sgd,adam", "--epochs", "1", "--batch-size", "64",
            "--quiet"]
    first = tmp_path / "first.sqlite"
    assert _run([*argv, "--store", str(first), "--json", str(tmp_path / "a.json")])[0] == 0
    code, toml = _run(["report", "last", "--store", str(first), "--toml", "-"])
    assert code == 0
    assert _run(["report", "last", "--store", str(first), "--html", str(tmp_path / "r.html"), "--toml",
                 str(tmp_path / "spec.toml")])[0] == 0
    assert (tmp_path / "spec.toml").read_text() == toml
    page = (tmp_path / "r.html").read_text()
    assert "descentlab compare --spec spec.toml" in page
    shown = page.split('<pre class="spec">', 1)[1].split("</pre>", 1)[0]
    assert html.unescape(shown) == toml  # the spec file the HTML report shows is the one --toml writes
    spec = tmp_path / "spec.toml"

    code, out = _run(["compare", "--spec", str(spec), "--store", str(first), "--quiet"])
    assert code == 0 and "2 already in the store, resumed" in out

    second = tmp_path / "second.sqlite"
    assert _run(["compare", "--spec", str(spec), "--store", str(second), "--quiet", "--json",
                 str(tmp_path / "b.json")])[0] == 0
    a, b = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "ab")

    def numbers(payload: dict) -> list:
        return sorted((r["optimizer"], r["summary"]["final"]["val_acc"], r["summary"]["final"]["test_acc"])
                      for r in payload["runs"])

    assert numbers(a) == numbers(b)


def test_the_readme_spec_file_runs_as_written(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Spec files", 1)[1]
    text = section.split("```toml\n", 1)[1].split("```", 1)[0]
    args = _args(["sweep", "--spec", str(_write(tmp_path, text))])
    spec = sweep_cli.spec_from(args)
    assert (spec.task, spec.optimizers, spec.lr_min, spec.lr_max, spec.points, spec.seeds, spec.epochs) == \
        ("digits-mlp", ("sgd", "adam"), 1e-4, 1.0, 8, 3, 5)
    assert spec.grid == (("momentum", (0.8, 0.9)),)
    assert len(spec.configs()) == 2 * 8 * 3 * 2 - 8 * 3  # adam has no momentum: swept without it


def test_a_benchmark_reruns_from_its_spec_file(tmp_path: Path, capsys) -> None:
    """benchmark from flags → report --toml → benchmark --spec: the same experiment, resumed with nothing trained;
    a misspelt key is one line, exit 2."""
    store = tmp_path / "b.sqlite"
    argv = ["benchmark", "--tasks", "digits-mlp", "--optimizers", "sgd,adam", "--budget", "1,2", "--seeds", "1",
            "--epochs", "1", "--quiet", "--store", str(store)]
    code, out = _run(argv)
    assert code == 0, out
    code, toml = _run(["report", "last", "--store", str(store), "--toml", "-"])
    assert code == 0 and toml.startswith("# descentlab benchmark --spec THIS_FILE.toml")
    assert 'tasks = [\n    "digits-mlp",\n]' in toml and "budget = [\n    1,\n    2,\n]" in toml
    spec = _write(tmp_path, toml)
    code, out = _run(["benchmark", "--spec", str(spec), "--store", str(store), "--quiet"])
    assert code == 0 and "runs already in the store, resumed" in out and "evaluation: 4 runs" in out
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", "last", "--store", str(store), "--html", str(tmp_path / "b.html")]) == 0
    assert "descentlab benchmark --spec spec.toml" in (tmp_path / "b.html").read_text()
    bad = _write(tmp_path, 'tasks = ["digits-mlp"]\nbudgets = [1, 2]\n')
    capsys.readouterr()
    assert main(["benchmark", "--spec", str(bad), "--store", str(tmp_path / "c.sqlite")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown key 'budgets' (did you mean 'budget'?)" in err
    assert not (tmp_path / "c.sqlite").exists()


def test_a_benchmark_of_a_user_s_task_reruns_from_its_spec_file(tmp_path: Path) -> None:
    """A user's task (a file reference) in a benchmark's spec file: report --toml names it by its reference, and
    benchmark --spec is the same experiment (same id), with nothing trained again."""
    from descentlab.store import Store
    from descentlab.tasks.external import forget

    task = str(Path(__file__).resolve().parents[2] / "examples" / "my_task.py") + ":task"
    store = tmp_path / "b.sqlite"
    try:
        code, out = _run(["benchmark", "--tasks", f"digits-mlp,{task}", "--optimizers", "adam", "--budget", "1",
                          "--seeds", "1", "--epochs", "1", "--quiet", "--store", str(store)])
        assert code == 0, out
        code, toml = _run(["report", "last", "--store", str(store), "--toml", "-"])
        assert code == 0 and f'"{task}"' in toml, toml
        with Store(store) as s:
            runs = len(s.runs(1))
        code, out = _run(["benchmark", "--spec", str(_write(tmp_path, toml)), "--store", str(store), "--quiet"])
        assert code == 0 and "Stored as experiment 1 " in out and "resumed" in out, out
        with Store(store) as s:
            assert len(s.experiments()) == 1 and len(s.runs(1)) == runs
    finally:
        forget()


@pytest.mark.parametrize("extra", [[], ["--label-column", "kind"], ["--label-column", "kind", "--test-data", "t.csv"]])
def test_a_csv_data_experiment_reruns_from_its_spec_file(extra: list[str], tmp_path: Path, monkeypatch) -> None:
    """compare --data FILE.csv (with its --label-column and --test-data) → report --toml → compare --spec: the same
    experiment, nothing trained again (the file named the data by its description, 'FILE.csv (test: 20 % …)', and
    lost the label column, so it could not run)."""
    from descentlab.tasks.external import forget

    monkeypatch.chdir(tmp_path)
    rows = "".join(f"{i % 7},{(i * 3) % 5},{i % 2},{i % 3}\n" for i in range(60))
    for name in ("d.csv", "t.csv"):
        Path(name).write_text("x,y,kind,z\n" + rows)
    try:
        argv = ["compare", "--data", "d.csv", *extra, "--optimizers", "sgd", "--epochs", "1", "--quiet"]
        assert _run([*argv, "--store", "s.sqlite"])[0] == 0
        code, toml = _run(["report", "last", "--store", "s.sqlite", "--toml", "-"])
        assert code == 0 and 'data = "d.csv"\n' in toml, toml
        code, out = _run(["compare", "--spec", str(_write(tmp_path, toml)), "--store", "s.sqlite", "--quiet"])
        assert code == 0 and "1 already in the store, resumed" in out and "Stored as experiment 1 " in out, out
    finally:
        forget()


@pytest.mark.parametrize("label", [None, "kind", 'the "odd" (label); test: x'])
@pytest.mark.parametrize("test", [None, "my tests + more.csv"])
def test_a_csv_source_gives_back_its_flags(label: str | None, test: str | None) -> None:
    from descentlab.specfile import data_flags, data_source

    source = data_source("my data.csv", label, test, 0.2, 0)
    expected = {"data": "my data.csv"} | ({"label-column": label} if label else {}) | ({"test-data": test} if test
                                                                                       else {})
    assert data_flags(source) == expected
    assert data_flags("digits-mlp") is None and data_flags("x/my.npz") == {"data": "x/my.npz"}
