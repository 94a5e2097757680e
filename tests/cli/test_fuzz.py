"""Fuzz the command line's values (hypothesis): whatever a user types, no traceback ever reaches them.

Each example runs one command in this process through ``main()`` with one flag's value drawn from numbers (NaN,
infinities, overflowing, negative, huge), lists, ranges and arbitrary text, the other flags small and valid. The
command must exit 0, or 2 with ONE line on stderr; an exception escaping ``main()`` fails the test. Input that
passes every check is not trained on: the step that would train (or trace) is replaced by one that raises
``Accepted``, so the test stays cheap and only checking is fuzzed.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from descentlab.cli import main


class Accepted(Exception):
    """Every value passed the checks; the command would now train."""


def _accept(*args, **kwargs):
    raise Accepted


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["1e400", "-1e400", "nan", "inf", "-inf", "0", "-0", "1e-400", "0x10", "1_000", "²", "١",
                     "full", "FULL", "", " ", ",", ",,", "1,1", "1,2", "0.5..0.1", "1e-3..1", "1..1", "..",
                     "1e-3..inf", "nan..1", "true", "1e-3..1e400"]),
)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), max_size=30)
VALUES = st.one_of(NUMBERS, TEXT, st.lists(NUMBERS, min_size=1, max_size=3).map(",".join))
# Paths: relative (the test runs in a temporary folder), any name, extension or folder-ness.
PATHS = st.one_of(TEXT.filter(lambda t: t.strip() not in ("", ".", "..")),
                  st.sampled_from(["x.txt", "x.png", "x.gif", "x.svg", "missing/x.png", ".", "x[bold].json"]))

TINY = ["--task", "digits-mlp", "--optimizers", "sgd", "--epochs", "1", "--quiet"]
COMMANDS = {
    "compare": (["compare", *TINY], {"--optimizers": VALUES, "--epochs": NUMBERS, "--batch-size": VALUES,
                                     "--lr": VALUES, "--seeds": NUMBERS, "--task": VALUES, "--json": PATHS}),
    "sweep": (["sweep", *TINY, "--points", "2"], {"--lr": VALUES, "--points": NUMBERS, "--seeds": NUMBERS,
                                                  "--momentum": VALUES, "--hp": VALUES.map(lambda v: f"eps={v}"),
                                                  "--group-size": NUMBERS, "--batch-size": VALUES}),
    "trace": (["trace", "--steps", "5"], {"--start": VALUES, "--lr": VALUES, "--steps": NUMBERS,
                                          "--function": VALUES, "--optimizers": VALUES, "--png": PATHS,
                                          "--gif": PATHS}),
    "lr-find": (["lr-find", "--task", "digits-mlp", "--optimizer", "sgd", "--steps", "5"],
                {"--start": VALUES, "--end": VALUES, "--steps": NUMBERS, "--seeds": NUMBERS,
                 "--batch-size": VALUES, "--png": PATHS}),
    "runs": (["runs"], {"--experiment": VALUES, "--csv": PATHS}),
    "report": (["report", "--html", "r.html"], {"--html": PATHS, "--md": PATHS}),
}


@st.composite
def command_lines(draw) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    base, flags = COMMANDS[name]
    flag = draw(st.sampled_from(sorted(flags)))
    return [*base, flag, draw(flags[flag])]  # a flag given twice: argparse keeps the last, the fuzzed one


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary folder with a store holding one tiny experiment; the training and tracing steps stubbed."""
    from descentlab.experiments import executors, trace
    from descentlab.experiments import lr_find as lf

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "runs.sqlite"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["compare", *TINY]) == 0  # something for runs and report to read
    monkeypatch.setattr(executors.LocalExecutor, "run", _accept)
    monkeypatch.setattr(trace, "trace", _accept)
    monkeypatch.setattr(lf, "run", _accept)  # the commands import these at run time, so the stubs are what they get
    return tmp_path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_no_traceback_ever_reaches_the_user(workdir, argv):
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Accepted:
        event("accepted")
        return
    except SystemExit as exit_:  # argparse: a value it cannot take at all (e.g. one that starts with '-')
        code = exit_.code
    message = err.getvalue()
    event(f"{argv[0]} exit {code}")
    assert "Traceback" not in message
    assert code in (0, 2), (argv, code, message)
    if code == 2:
        assert len(message.strip().splitlines()) == 1, (argv, message)
        assert message.startswith("descentlab"), (argv, message)
