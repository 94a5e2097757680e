"""The optimizers' signatures are real to a type checker: mypy accepts a user's script that constructs every
optimizer with keywords, and rejects the same script with one keyword misspelt (``py.typed`` is shipped, so
mypy reads descentlab's annotations instead of treating the package as untyped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import descentlab

pytest.importorskip("mypy")

SRC = Path(descentlab.__file__).parent.parent

USER_SCRIPT = '''
import torch
from descentlab import optim

model = torch.nn.Linear(3, 2)
params = list(model.parameters())
optim.SGD(params, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=False, maximize=False,
          foreach=None, differentiable=False, fused=None)
optim.Adam(params, lr=torch.tensor(1e-3), betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0, amsgrad=True,
           foreach=False, maximize=False, capturable=False, differentiable=False, fused=None,
           decoupled_weight_decay=False)
optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, fused=True)
optim.Adagrad(params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.1, eps=1e-10,
              foreach=None, maximize=False, differentiable=False, fused=None)
optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=True,
              capturable=False, foreach=None, maximize=False, differentiable=False)
optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, capturable=False,
               maximize=False, differentiable=False)
optim.Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=None, maximize=False,
             differentiable=False, capturable=False)
optim.NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
            decoupled_weight_decay=True, foreach=None, maximize=False, capturable=False, differentiable=False)
optim.RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
            foreach=None, maximize=False, capturable=False, differentiable=False)
optim.Muon([model.weight], lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
           ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn="original")
optim.Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False)
optim.SGDScheduleFree(params, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=10, r=0.0,
                      weight_lr_power=2.0)
optim.AdamWScheduleFree(params, lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=10)
'''

# torch's own sources are skipped (their analysis takes half a minute on this machine); descentlab's are
# followed silently, so that only the user's script is judged.
CONFIG = """
[mypy]
follow_imports = silent
[mypy-torch.*]
follow_imports = skip
"""


def mypy(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "user.py").write_text(script)
    (tmp_path / "mypy.ini").write_text(CONFIG)
    env = {**os.environ, "MYPYPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", "cache",
                           "user.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_ships_py_typed() -> None:
    assert (SRC / "descentlab" / "py.typed").is_file()


def test_mypy_accepts_every_optimizer_with_its_keywords(tmp_path: Path) -> None:
    result = mypy(tmp_path, USER_SCRIPT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("right", "wrong"), [("momentum_decay=", "momentum_dacay="), ("amsgrad=", "amsgard="),
                                              ("lr_decay=", "lr_deacy="), ("ns_steps=", "n_steps=")])
def test_mypy_rejects_a_misspelt_keyword(tmp_path: Path, right: str, wrong: str) -> None:
    assert right in USER_SCRIPT
    result = mypy(tmp_path, USER_SCRIPT.replace(right, wrong, 1))
    assert result.returncode == 1
    assert f'Unexpected keyword argument "{wrong[:-1]}"' in result.stdout, result.stdout
