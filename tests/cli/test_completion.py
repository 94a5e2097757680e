"""`descentlab completion bash|zsh|fish`: each script is valid for its shell and completes commands, flags and
names. bash is driven for real (COMP_WORDS set, COMPREPLY read); fish too when it is installed (`complete -C`);
zsh is syntax-checked when installed. Every script is checked to name every command and flag of the parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from descentlab import catalogue
from descentlab.cli import build_parser, main
from descentlab.cli.completion import SHELLS, script

BASH = shutil.which("bash")


def _every_flag() -> dict[str, list[str]]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [o for a in p._actions if a.help != argparse.SUPPRESS for o in a.option_strings]
            for name, p in sub.choices.items()}


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_names_every_command_and_flag(shell):
    text = script(shell)
    for command, flags in _every_flag().items():
        assert command in text, (shell, command)
        for flag in flags:
            word = flag.lstrip("-") if shell == "fish" else flag  # fish: -l store / -s q
            assert word in text, (shell, command, flag)
    assert "adamw-schedulefree" in text and "mnist1d-mlp" in text and "cosine-restarts" in text


def test_the_command_prints_the_script(capsys):
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out == script("zsh")
    with pytest.raises(SystemExit) as exit_:
        main(["completion", "tcsh"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_is_valid_for_its_shell(shell, tmp_path):
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed; the structural test above still checks its script")
    path = tmp_path / f"descentlab.{shell}"
    path.write_text(script(shell))
    checked = subprocess.run([binary, "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def _bash_complete(tmp_path, *words: str) -> list[str]:
    path = tmp_path / "descentlab.bash"
    path.write_text(script("bash"))
    line = " ".join(f"'{w}'" for w in words)
    program = (f'source "{path}"; COMP_WORDS=(descentlab {line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); '
               'COMPREPLY=(); _descentlab; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run([BASH, "-c", program], capture_output=True, text=True, timeout=60, check=True).stdout
    return [w for w in out.splitlines() if w]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize(("words", "expected"), [
    (("co",), ["compare", "completion"]),
    (("compare", "--opt"), ["--optimizers"]),
    (("sweep", "--task", "mnist1d"), ["mnist1d-mlp", "mnist1d-cnn"]),
    (("compare", "--optimizers", "sgd,rms"), ["sgd,rmsprop", "sgd,rmsprop-centered"]),
    (("compare", "--preset", ""), ["torch", "keras"]),
    (("trace", "--function", "ro"), ["rosenbrock"]),
    (("list", "fu"), ["functions"]),
    (("completion", ""), ["bash", "zsh", "fish"]),
    (("runs", "--j"), ["--json"]),
    (("compare", "--store", ""), []),  # a path: left to the shell's file names
])
def test_bash_completes_commands_flags_and_names(tmp_path, words, expected):
    assert _bash_complete(tmp_path, *words) == expected


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands_flags_and_names(tmp_path):
    path = tmp_path / "descentlab.fish"
    path.write_text(script("fish"))

    def complete(line: str) -> list[str]:
        out = subprocess.run(["fish", "--no-config", "-c", f"source {path}; complete -C '{line}'"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return [row.split("\t")[0] for row in out.splitlines()]

    assert complete("descentlab sw") == ["sweep"]
    assert complete("descentlab compare --opt") == ["--optimizers"]
    assert sorted(complete("descentlab lr-find --optimizer ")) == sorted(catalogue.optimizer_names())
    assert complete("descentlab sweep --executor ") == ["local", "ray"]


# An interactive zsh in a pseudo-terminal (zpty), compinit run and the script sourced: the line is typed, then TAB,
# and what the terminal shows afterwards is printed (the completed line, or the listed candidates).
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
local line out=""
zpty -w z "PROMPT='' RPROMPT=''; autoload -U compinit; compinit -u -d ${TMPDIR:-/tmp}/zcompdump.\$\$"
zpty -w z "source ${1}"
zpty -w z 'print -- "<""ready>"'
while zpty -r z line; do [[ $line == *'<ready>'* ]] && break; done
zpty -w -n z "${2}"$'\t'
sleep 1
while zpty -r -t z line; do out+=$line; done
zpty -d z
print -r -- $out
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize(("typed", "shown"), [
    ("descentlab compare --optim", ["descentlab compare --optimizers "]),
    ("descentlab sweep --task mnist1d-m", ["descentlab sweep --task mnist1d-mlp "]),
    ("descentlab lr-find --optimizer rmsprop-c", ["descentlab lr-find --optimizer rmsprop-centered "]),
    ("descentlab compare --optimizers sgd,ada", ["adadelta", "adamw-schedulefree"]),  # the list's next item
])
def test_zsh_completes_commands_flags_and_names(tmp_path, typed, shown):
    import re

    script_path, driver = tmp_path / "_descentlab", tmp_path / "drive.zsh"
    script_path.write_text(script("zsh"))
    driver.write_text(ZSH_DRIVER)
    out = subprocess.run(["zsh", "-f", str(driver), str(script_path), typed], capture_output=True, text=True,
                         timeout=60, env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb"}).stdout
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out).replace("\r", "").replace("\b", "")
    assert all(text in screen for text in shown), screen[-400:]
