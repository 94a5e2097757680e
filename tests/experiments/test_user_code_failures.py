"""A user's network that raises or returns NaN mid-run: that run is stored failed (with its error) or diverged,
the experiment's other runs finish and are stored."""

from __future__ import annotations

import textwrap

import pytest

from descentlab.cli import main
from descentlab.store import Store

pytestmark = pytest.mark.usefixtures("forget_user_tasks")

FLAKY = """
import numpy as np
import torch
from torch import nn
from descentlab.tasks import custom_task

rng = np.random.default_rng(0)
x = rng.normal(size=(80, 3)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.seed = torch.initial_seed()  # built under the run's seed
        self.layer = nn.Linear(3, 2)
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.seed == 1 and self.calls > 6:  # in the second epoch (4 updates of 16 examples each)
                {action}
        return self.layer(torch.nn.functional.gelu(x))  # gelu: autograd, forward called every step


task = custom_task("flaky", model=Net, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:],
                   epochs=3, batch_size=16)
"""


def run_flaky(tmp_path, capsys, action: str, *flags: str):
    path = tmp_path / "flaky.py"
    path.write_text(textwrap.dedent(FLAKY).replace("{action}", action))
    store = tmp_path / "runs.sqlite"
    code = main(["compare", "--task", f"{path}:task", "--optimizers", "sgd", "--seeds", "3", "--quiet",
                 "--store", str(store), *flags])
    out = capsys.readouterr()
    with Store(store) as s:
        runs = {r.seed: r for r in s.runs("last")}
        epochs = {seed: s.epochs(r.id) for seed, r in runs.items()}
    return code, out.out, runs, epochs


def test_a_run_whose_model_raises_is_stored_failed_and_the_others_finish(tmp_path, capsys) -> None:
    code, out, runs, epochs = run_flaky(tmp_path, capsys, 'raise ValueError("bad batch in my model")',
                                        "--no-vectorize")
    assert code == 0
    assert runs[1].status == "failed" and runs[1].summary["error"] == "ValueError: bad batch in my model"
    assert "failed: ValueError: bad batch in my model" in out
    assert runs[0].status == runs[2].status == "completed" and len(epochs[0]) == len(epochs[2]) == 3
    assert main(["report", "last", "--store", str(tmp_path / "runs.sqlite"), "--md", str(tmp_path / "r.md")]) == 0
    report = (tmp_path / "r.md").read_text()
    assert "Diverged and failed runs" in report and "| failed | – | 1 | ValueError: bad batch in my model |" in report
    assert f"from {tmp_path / 'flaky.py'}:task" in report  # where the task came from


def test_a_model_returning_nan_diverges_and_the_others_finish(tmp_path, capsys) -> None:
    code, _, runs, epochs = run_flaky(tmp_path, capsys, "return self.layer(x) * float('nan')", "--no-vectorize")
    assert code == 0
    assert runs[1].status == "diverged" and 4 < runs[1].diverged_step <= 8 and len(epochs[1]) == 1
    assert runs[0].status == runs[2].status == "completed" and len(epochs[2]) == 3


def test_a_vectorized_pass_that_raises_is_trained_again_run_by_run(tmp_path, capsys) -> None:
    # data-dependent control flow: torch.func.vmap refuses it, the loop runs it; the runs all complete
    code, out, runs, _ = run_flaky(tmp_path, capsys, "pass\n        if x.sum() > 1e9:\n            x = x * 2")
    assert code == 0 and {r.status for r in runs.values()} == {"completed"}
    assert "pass of" not in out  # trained one by one
