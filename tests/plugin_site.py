"""A plugin package "installed" for a test: a package and its dist-info (with entry points) in a folder put on
``sys.path``, which is all ``importlib.metadata.entry_points`` needs to find it."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_plugin(site: Path, monkeypatch, *, package: str, dist: str, version: str, code: str,
                   entry_points: str) -> Path:
    """Write ``package`` (its ``__init__.py`` is ``code``) and the dist-info of ``dist`` ``version`` declaring
    ``entry_points`` (the text of an ``entry_points.txt``) under ``site``, prepend ``site`` to ``sys.path`` for the
    test; the path of ``entry_points.txt`` (a test may rewrite it)."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(code))
    info = site / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(site))
    return info / "entry_points.txt"
