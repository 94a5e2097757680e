"""descentlab.files: an output file is written whole or not at all."""

from __future__ import annotations

import pytest

from descentlab.errors import UserError
from descentlab.files import atomic_path, write_atomic


def test_a_write_interrupted_midway_leaves_the_old_file_and_no_temporary_one(tmp_path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old, whole")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as part:
        assert part.parent == tmp_path and part != path
        part.write_text("new, ha")  # Ctrl-C in the middle of writing
        raise KeyboardInterrupt
    assert path.read_text() == "old, whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_complete_write_replaces_the_file(tmp_path) -> None:
    path = tmp_path / "out.bin"
    path.write_text("old")
    assert write_atomic(path, b"\x00new") == path
    assert path.read_bytes() == b"\x00new"
    assert write_atomic(tmp_path / "t.toml", "épsilon = 1\n").read_text(encoding="utf-8") == "épsilon = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "t.toml"]


def test_a_file_that_cannot_be_written_is_one_line(tmp_path) -> None:
    with pytest.raises(UserError, match=r"^cannot write --toml .*missing/x\.toml: No such file or directory$"):
        write_atomic(tmp_path / "missing" / "x.toml", "a = 1\n", "--toml")


def test_a_name_near_the_file_systems_limit_is_written(tmp_path) -> None:
    """The temporary name holds at most 100 characters of the target's: a 250-character name (valid) still fits."""
    target = tmp_path / ("n" * 246 + ".png")
    write_atomic(target, b"whole")
    assert target.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == [target.name]
