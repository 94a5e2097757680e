"""`--schedule` as a user types it: the README's commands, what they print and store, and one-line errors (exit 2)
before anything trains."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from descentlab.cli import main
from descentlab.errors import UserError
from descentlab.store import Store

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(section: str) -> list[list[str]]:
    """The ``descentlab`` commands of the code blocks (bash or sh) under the heading ``section``, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n") + len(section) + 2
    body = text[start:text.index("\n#", start)]
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", body, re.S)
    commands = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]
    assert commands and all(c[0] == "descentlab" for c in commands)
    return [c[1:] for c in commands]


def test_the_readme_schedule_commands_run_and_the_report_plots_the_schedule(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "runs.sqlite"))
    commands = readme_commands("### A schedule")
    assert [c[0] for c in commands] == ["compare", "sweep", "report", "trace"]
    outputs = []
    for argv in commands:
        if argv[0] == "trace":
            argv = [*argv, "--steps", "60"]  # the README's path, shorter
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, out.err
        outputs.append(out.out)
    compare, sweep, _, trace = outputs
    assert "adam (cosine(warmup_steps=0.1))" in compare and "sgd (constant)" in compare
    assert "adam (cosine) lr=0.01" in sweep and "Best adam on validation: adam (" in sweep
    assert "onecycle(pct_start=0.2)" in trace
    page = (tmp_path / "report.html").read_text(encoding="utf-8")  # the sweep's report, the last experiment
    assert "Learning-rate schedule" in page and "adam (cosine)" in page
    with Store(tmp_path / "runs.sqlite") as store:
        compare_id = store.experiments()[0].id
        runs = store.runs(compare_id)
        assert {r.config["schedule"]["label"] for r in runs} == {"constant", "cosine(warmup_steps=0.1)"}
        horizons = {r.config["batch_size"]: r.config["schedule"]["schedule"]["schedule"]["T_max"] for r in runs
                    if r.config["schedule"]["label"] != "constant"}
        steps = {r.config["batch_size"]: r.summary["steps"] for r in runs}
        assert horizons["full"] == 3 - 1 and horizons[32] == steps[32] - round(0.1 * steps[32])  # 3 epochs
        assert all(len(store.steps(r.id)) == r.summary["steps"] for r in runs)  # every update's lr, < 1000


def test_sweep_json_names_each_runs_schedule(tmp_path, capsys) -> None:
    js = tmp_path / "out.json"
    code = main(["sweep", "--task", "digits-mlp", "--optimizers", "sgd", "--lr", "0.01..0.1", "--points", "2",
                 "--epochs", "1", "--batch-size", "full", "--schedule", "constant,step(step_size=0.5)", "--quiet",
                 "--store", str(tmp_path / "s.sqlite"), "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    payload = json.loads(js.read_text())
    assert sorted(r["variant"] for r in payload["runs"]) == ["sgd (constant)"] * 2 + ["sgd (step(step_size=0.5))"] * 2
    assert payload["spec"]["schedules"] == ["constant", "step(step_size=0.5)"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["compare", "--schedule", "cosin"],
     "unknown schedule 'cosin' (did you mean 'cosine'?); valid names: constant, step, multistep"),
    (["compare", "--schedule", "cosine(t_max=5)"],
     "schedule 'cosine': unknown parameter(s) t_max; allowed: base, T_max, eta_min, warmup_steps"),
    (["compare", "--schedule", "step"], "schedule 'step' needs step_size"),
    (["compare", "--schedule", "cosine(warmup_steps=1000000)"], "leaves no update of the run's"),
    (["sweep", "--schedule", "constant,constant"], "lists constant twice"),
    (["sweep", "--schedule", "cosine(eta_min=1e-5"], "unbalanced '('"),
    (["trace", "--schedule", "wsd(decay=square)"], "StableDecay: decay must be one of 'linear', 'cosine', '1-sqrt'"),
    (["compare", "--schedule", "Cosine_Typo"], "unknown schedule 'Cosine_Typo' (did you mean"),  # as typed
    (["compare", "--schedule", "ReduceLROnPlateau(patience=2)"],
     "schedule 'ReduceLROnPlateau' is not offered: reduce-on-plateau needs the validation metric"),
    (["sweep", "--schedule", "constant,OneCycleLR"], "schedule 'OneCycleLR' is torch's; here write onecycle (each is "
                                                     "stepped once per update, not per epoch"),
    (["compare", "--schedule", "torch.optim.lr_scheduler:LambdaLR"],
     "is a torch lr_scheduler; --schedule takes one of constant"),
    (["compare", "--schedule", "my_schedules.py:warm"], "--schedule takes a name, one of constant"),
])
def test_a_bad_schedule_is_one_line_and_exit_2_before_training(tmp_path, capsys, argv, expected) -> None:
    store = tmp_path / "s.sqlite"
    extra = ["--task", "digits-mlp", "--epochs", "1", "--store", str(store)] if argv[0] != "trace" else []
    code = main([*argv, *extra])
    err = capsys.readouterr().err
    assert code == 2 and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not store.exists()  # nothing trained, no store made


def test_an_optimizer_from_a_file_follows_the_schedule(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(README.parent)  # the optimizer's path is relative to the repository
    store = tmp_path / "s.sqlite"
    code = main(["compare", "--task", "digits-mlp", "--optimizers", "examples/my_optimizer.py:SignSGD(lr=0.01)",
                 "--epochs", "1", "--batch-size", "64", "--schedule", "cosine", "--quiet", "--store", str(store)])
    assert code == 0, capsys.readouterr().err
    with Store(store) as s:
        (run,) = s.runs("last")
        steps = s.steps(run.id)
    described = run.config["schedule"]["schedule"]
    assert described == {"type": "Cosine", "base": 0.01, "T_max": len(steps), "eta_min": 0.0}
    assert steps[0]["lr"] == 0.01 and steps[-1]["lr"] < 1e-4  # the foreign optimizer's lr, written every update


def test_the_python_example_of_docs_bring_your_own_runs() -> None:
    text = (README.parent / "docs" / "bring-your-own.md").read_text(encoding="utf-8")
    section = text[text.index("## Your schedule"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    *body, last = code.strip().splitlines()
    namespace: dict = {}
    exec("\n".join(body), namespace)  # noqa: S102 - the documentation's own example
    assert [c.schedule.label for c in namespace["configs"]] == ["constant", "cosine(warmup_steps=0.1)"]
    shown = eval(last.split("#")[0], namespace)  # noqa: S307
    expected = last.split(": ")[-1].split(", ")
    assert shown == pytest.approx([float(v) for v in expected])


def test_the_python_api_takes_schedules(tmp_path) -> None:
    import descentlab

    result = descentlab.compare("digits-mlp", optimizers=["sgd"], epochs=2, batch_size="full", lr=0.1,
                                schedule="constant,cosine(warmup_steps=0.5)", store=tmp_path / "s.sqlite")
    assert [row["optimizer"] for row in result.summary] == ["sgd (constant)", "sgd (cosine(warmup_steps=0.5))"]
    assert {line.get_label() for line in result.figure().axes[0].get_lines()} == {
        "sgd (constant)", "sgd (cosine(warmup_steps=0.5))"}
    swept = descentlab.sweep("digits-mlp", optimizers=["sgd"], lr=(0.01, 0.1), points=2, epochs=1,
                             batch_size="full", schedule=["constant", "cosine"], store=tmp_path / "s.sqlite")
    assert [row["optimizer"] for row in swept.summary] == ["sgd (constant)", "sgd (cosine)"]
    with pytest.raises(UserError, match="unknown schedule 'cosin'"):
        descentlab.compare("digits-mlp", schedule="cosin", store=tmp_path / "s.sqlite")
