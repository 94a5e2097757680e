"""An experiment's identity holds everything that changes its numbers (docs/design.md, principle 5): rerunning a
command after editing the user code it trains, or after upgrading descentlab, must not resume the old results
into the new experiment (its table and report would then show old-code runs beside new-code runs of the same
optimizer, seed and learning rate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from descentlab.cli import main
from descentlab.store import Store

OPTIMIZER = '''
import torch


class Sign(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-SCALE * group["lr"])
'''


def _compare(tmp_path: Path, name: str) -> dict:
    out = tmp_path / f"{name}.json"
    code = main(["compare", "--task", "digits-mlp", "--optimizers", f"sgd,{tmp_path / 'opt.py'}:Sign(lr=0.01)",
                 "--seeds", "1", "--epochs", "1", "--quiet", "--store", str(tmp_path / "x.sqlite"),
                 "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def test_editing_an_optimizer_file_does_not_mix_old_and_new_code_runs(tmp_path: Path) -> None:
    opt = tmp_path / "opt.py"
    opt.write_text(OPTIMIZER.replace("SCALE", "1"))
    first = _compare(tmp_path, "first")
    opt.write_text(OPTIMIZER.replace("SCALE", "2"))  # another update rule, same file name and class
    second = _compare(tmp_path, "second")
    with Store(tmp_path / "x.sqlite") as store:
        fingerprints = {run.config.get("code", {}).get("optimizer") for run in store.runs(second["experiment_id"])}
    assert len(fingerprints - {None}) == 1, "the experiment holds runs of two versions of the optimizer's code"
    assert second["experiment_id"] != first["experiment_id"]


def test_another_descentlab_version_does_not_mix_into_the_old_experiment(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import descentlab.train.config as config

    (tmp_path / "opt.py").write_text(OPTIMIZER.replace("SCALE", "1"))
    first = _compare(tmp_path, "first")
    monkeypatch.setattr(config, "library_identity", lambda: "999.0.0")
    second = _compare(tmp_path, "second")
    with Store(tmp_path / "x.sqlite") as store:
        versions = {run.config["descentlab"] for run in store.runs(second["experiment_id"])}
    assert versions == {"999.0.0"}, f"experiment {second['experiment_id']} mixes versions {sorted(versions)}"
    assert second["experiment_id"] != first["experiment_id"]


def test_the_library_identity_is_the_version_and_a_digest_of_descentlabs_own_source(tmp_path: Path) -> None:
    """An edit of descentlab's source between releases (same version) is other code: a new identity."""
    import hashlib
    import shutil
    import subprocess
    import sys

    import descentlab
    from descentlab.train.config import library_identity

    version, digest = library_identity().split("+")
    assert version == descentlab.__version__ and len(digest) == 12
    root = Path(descentlab.__file__).parent
    expected = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        expected.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    assert digest == expected.hexdigest()[:12]
    # a copy of the package with one comment added reports another identity, the untouched copy the same one
    copy = tmp_path / "site" / "descentlab"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = "from descentlab.train.config import library_identity; print(library_identity())"

    def identity() -> str:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              env={"PYTHONPATH": str(copy.parent), "PATH": ""}).stdout.strip()

    assert identity() == library_identity()
    (copy / "grid.py").write_text((copy / "grid.py").read_text() + "\n# an edit\n")
    assert identity() not in (library_identity(), "")


def test_a_changed_forward_is_another_task(tmp_path: Path) -> None:
    import numpy as np
    import torch
    from torch import nn

    import descentlab
    from descentlab.tasks import custom_task

    def task_with(activation):
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.a, self.b = nn.Linear(2, 8), nn.Linear(8, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.b(activation(self.a(x)))

        rng = np.random.default_rng(0)
        x = rng.normal(size=(120, 2)).astype(np.float32)
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        return custom_task("xor-identity", model=Net, x_train=x[:100], y_train=y[:100], x_test=x[100:],
                           y_test=y[100:], epochs=1)

    store = tmp_path / "x.sqlite"
    descentlab.compare(task_with(torch.tanh), optimizers=["sgd"], seeds=1, store=store)
    descentlab.compare(task_with(torch.relu), optimizers=["sgd"], seeds=1, store=store)
    with Store(store) as opened:
        assert len(opened.experiments()) == 2, "the relu network resumed the tanh network's results"
