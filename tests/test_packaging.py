"""Install what you need: the library (optimizers, schedules, minimize) imports with torch alone; the workbench's
dependencies are the `lab` extra, and the CLI says how to install them when they are missing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from descentlab.cli import LAB_MODULES

ROOT = Path(__file__).resolve().parents[1]

# Makes every workbench dependency unimportable, as in an environment where only `pip install descentlab` ran.
BLOCK = f"""
import sys
for name in {sorted(LAB_MODULES)!r}:
    sys.modules[name] = None
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120)


def test_the_library_imports_and_runs_without_the_workbench_dependencies():
    done = _python("""
import torch
from descentlab import optim, schedules
import descentlab
p = torch.nn.Parameter(torch.ones(3))
opt = optim.Adam([p], lr=0.1)
p.grad = torch.ones(3)
opt.step()
sched = schedules.ScheduleAdapter(opt, {"lr": schedules.Cosine(0.1, T_max=10)})
path = descentlab.minimize(lambda x: (x ** 2).sum(), 3.0, optimizer="sgd", lr=0.1, steps=3)
lab = sorted({m.split(".")[0] for m, v in sys.modules.items() if v is not None} & LAB)
print(lab, round(float(path.positions[1]), 6))
""".replace("LAB", repr(set(LAB_MODULES))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] 2.4"


def test_the_cli_without_the_lab_extra_is_one_line_saying_what_to_install():
    done = _python("from descentlab.cli import main; sys.exit(main(['list']))")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip()] and "pip install 'descentlab[lab]'" in done.stderr


def test_metadata_declares_what_the_code_imports_and_one_version():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in meta["dependencies"]] == ["torch", "numpy"]
    lab = {d.split(">")[0].lower() for d in meta["optional-dependencies"]["lab"]}
    assert {"rich", "matplotlib", "pillow", "mnist1d", "scikit-learn"} <= lab
    # every module the workbench imports (cli.LAB_MODULES, what the missing-extra message names) is declared
    distribution = {"PIL": "pillow", "sklearn": "scikit-learn", "tomli_w": "tomli-w"}
    assert {distribution.get(m, m) for m in LAB_MODULES} <= lab
    assert meta["dynamic"] == ["version"] and "version" not in meta
    assert meta["requires-python"] == ">=3.11" and (ROOT / "LICENSE").is_file() and (ROOT / "CHANGELOG.md").is_file()
    pins = {line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line}
    assert lab <= pins  # every workbench dependency is pinned for CI and the benchmarks


@pytest.mark.slow
def test_a_fresh_venv_installs_the_library_alone(tmp_path):
    """`pip install descentlab` for real, in a new virtual environment (≈ 40 s: torch is installed into it)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c",
                          str(ROOT / "constraints.txt"), str(ROOT)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                               capture_output=True, text=True, check=True).stdout.lower()
    assert "torch==" in installed and not any(f"{name}==" in installed for name in (
        "rich", "matplotlib", "pillow", "mnist1d", "scikit-learn"))
    done = subprocess.run([str(venv / "bin" / "python"), "-c", """
import sys, torch, descentlab, descentlab.optim, descentlab.schedules
p = torch.nn.Parameter(torch.ones(2)); o = descentlab.optim.SGD([p], lr=0.5); p.grad = torch.ones(2); o.step()
print(descentlab.__version__, p.tolist())
"""], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    from descentlab import __version__

    assert done.stdout.split() == [__version__, "[0.5,", "0.5]"]
    cli = subprocess.run([str(venv / "bin" / "descentlab"), "list"], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 2 and "pip install 'descentlab[lab]'" in cli.stderr
