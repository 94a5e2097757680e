"""The same flag means the same thing in every command: walk every command's parser and compare each shared
flag's spelling, destination, type, metavar, default, choices and help."""

from __future__ import annotations

import argparse

import pytest

from descentlab.cli import COMMANDS, build_parser, main

SHARED = ("--store", "--data-dir", "--device", "--preset", "--json", "--quiet", "--verbose", "--vectorize", "--spec",
          "--fresh", "--data", "--label-column", "--test-data", "--optimizer")
# The same spelling, destination, type and metavar everywhere; what the command does by default (and so its
# help) is its own: --task's default task, how many seeds, and --lr, which is one rate in compare, a range LO..HI
# in sweep and a list in trace (each command's own reading of "the learning rate(s)"), --batch-size (a list only
# in compare), --schedule (a list in compare and sweep, one in trace), --png (the command's figure), --html and
# --md (trace: its paths' page; report and compare: the experiment's report), --csv (runs: the runs' epochs;
# export: the same rows).
SAME_SHAPE = ("--task", "--seeds", "--epochs", "--batch-size", "--lr", "--schedule", "--png", "--html", "--md",
              "--optimizers", "--csv", "experiment", "--experiment")
FIELDS = ("option_strings", "dest", "type", "metavar", "default", "choices", "help", "nargs", "const")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    found = {}
    for action in parser._actions:
        for name in action.option_strings or [action.dest]:
            found[name] = action
    return found


@pytest.mark.parametrize("flag", SHARED + SAME_SHAPE)
def test_a_shared_flag_is_the_same_in_every_command_that_has_it(flag):
    seen = {name: _actions(p)[flag] for name, p in _parsers().items() if flag in _actions(p)}
    assert seen, f"no command has {flag}"
    (first, reference), *others = seen.items()
    # What a command does without an experiment is its own (runs lists them all, report writes the last one);
    # what EXPERIMENT means is shared: the help says it first, the same words.
    fields = [f for f in FIELDS if f not in ("default", "help")] if flag in SAME_SHAPE else FIELDS
    for name, action in others:
        for field in fields:
            assert getattr(action, field) == getattr(reference, field), f"{flag}: {field} of {name} ≠ {first}'s"
        if flag == "experiment":
            assert action.help.split(" (")[0] == reference.help.split(" (")[0] == "an experiment id, or 'last'"


def test_the_commands_that_train_share_their_flags():
    parsers = _parsers()
    for flag in ("--store", "--data-dir", "--preset", "--json", "--task"):
        assert all(flag in _actions(parsers[c]) for c in ("compare", "sweep", "lr-find")), flag
    for flag in ("--device", "--quiet"):
        assert all(flag in _actions(parsers[c]) for c in ("compare", "sweep")), flag
    assert all("--store" in _actions(parsers[c]) and "experiment" in _actions(parsers[c])
               for c in ("runs", "report", "export"))


def test_every_command_has_examples_and_the_long_ones_group_their_flags():
    parsers = _parsers()
    for command in COMMANDS:
        p = parsers[command.name]
        assert p.epilog and p.epilog.lstrip().startswith(("examples:", "install")), command.name
        assert p.description.split() == command.help.split()
    for name in ("compare", "sweep", "lr-find", "trace"):
        titles = [g.title for g in parsers[name]._action_groups if g._group_actions]
        assert "output" in titles and len(titles) >= 3, (name, titles)


@pytest.mark.parametrize("command", ["runs", "report", "export"])
def test_the_experiment_is_a_positional_argument_and_experiment_flag_is_its_alias(command):
    p = _parsers()[command]
    assert p.parse_args(["3"]).experiment == "3"
    assert p.parse_args(["--experiment", "3"]).experiment == "3"
    assert p.parse_args([]).experiment == (None if command == "runs" else "last")


def test_the_defaults_the_help_shows_are_the_libraries():
    from descentlab.cli import common, trace
    from descentlab.experiments import executors
    from descentlab.experiments import trace as tracer

    assert common.DEFAULT_GROUP_SIZE == executors.DEFAULT_GROUP_SIZE
    assert trace.DEFAULT_STEPS == tracer.DEFAULT_STEPS


def test_a_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["runs", "--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and "--bogus" in err
