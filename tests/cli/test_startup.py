"""Starting fast is a behaviour: building the parser, --help, `list`, completion and an argument error import no
torch (nor numpy, matplotlib). Checked in a fresh interpreter's ``sys.modules``; the time it saves is measured in
benchmarks/cli_startup.py, not asserted here."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import descentlab.cli as cli

HEAVY = ("torch", "numpy", "matplotlib", "scipy", "sklearn", "pandas", "pyarrow", "tensorboard")
PROBE = f"HEAVY = {HEAVY!r}\n" + """
import json, sys, contextlib, io
from descentlab.cli import build_parser, main
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
    if argv is None:
        build_parser()
        code = 0
    else:
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules], "err": err.getvalue()}))
"""


def _probe(argv: list[str] | None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize(("argv", "code"), [
    (None, 0),  # import descentlab.cli and build the parser of every command
    (["--help"], 0),
    ([], 0),
    (["compare", "--help"], 0),
    (["sweep", "--help"], 0),
    (["list"], 0),
    (["completion", "bash"], 0),
    (["compare", "--bogus"], 2),
    (["compare", "--optimizers", "adma"], 2),
    (["sweep", "--task", "mnist1d_mpl"], 2),
    (["trace", "--function", "rosenbrok"], 2),
    (["lr-find", "--task", "digits-mlp", "--optimizer", "lino"], 2),
    (["compare", "--schedule", "cosin"], 2),
    (["benchmark", "--tasks", "digits-mlp,mnist1d-mpl"], 2),
    (["benchmark", "--optimizers", "sgd,adma"], 2),
])
def test_help_list_and_argument_errors_do_not_import_torch(argv, code):
    result = _probe(argv)
    assert result["code"] == code, result
    assert result["heavy"] == [], f"{argv} imported {result['heavy']}"
    if code == 2:
        assert len(result["err"].strip().splitlines()) == 1, result["err"]


def test_a_command_imports_only_its_own_module():
    probe = ("import sys; from descentlab.cli import build_parser; build_parser(only='runs'); "
             "print(sorted(m for m in sys.modules if m.startswith('descentlab.cli.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "descentlab.cli.runs" in out and "descentlab.cli.compare" not in out and "descentlab.cli.sweep" not in out


def test_every_command_module_is_declared_in_the_table():
    """The table is declared, not discovered: a module of cli/ that has add_arguments and run but no line in
    COMMANDS would never be offered, so this fails until it has one."""
    declared = {c.module for c in cli.COMMANDS}
    for info in pkgutil.iter_modules(cli.__path__):
        module = importlib.import_module(f"descentlab.cli.{info.name}")
        if hasattr(module, "add_arguments") and hasattr(module, "run"):
            assert module.__name__ in declared, f"{module.__name__} is a command missing from cli.COMMANDS"
    assert len({c.name for c in cli.COMMANDS}) == len(cli.COMMANDS)
    for command in cli.COMMANDS:
        module = importlib.import_module(command.module)
        assert callable(module.add_arguments) and callable(module.run), command.name


def test_the_top_level_help_lists_every_command_with_its_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for command in cli.COMMANDS:
        assert command.name in out and command.help.split()[0] in out


@pytest.mark.parametrize("module", ["descentlab", "descentlab.cli"])
def test_python_dash_m_runs_the_command_line(module):
    from descentlab import __version__

    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, f"descentlab {__version__}\n")
