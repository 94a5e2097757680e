"""Where descentlab keeps files of its own: the cache (downloaded and generated datasets) and the default
results store, in each platform's usual place (``platformdirs``, the ``lab`` extra).

- cache: ``platformdirs.user_cache_dir("descentlab")`` — Linux ``$XDG_CACHE_HOME/descentlab`` or
  ``~/.cache/descentlab``; macOS ``~/Library/Caches/descentlab``; Windows ``%LOCALAPPDATA%\\descentlab\\Cache``.
- data (the default store's folder): ``platformdirs.user_data_dir("descentlab")`` — Linux
  ``$XDG_DATA_HOME/descentlab`` or ``~/.local/share/descentlab``; macOS
  ``~/Library/Application Support/descentlab``; Windows ``%LOCALAPPDATA%\\descentlab``.

Backwards compatibility: descentlab used the Linux (XDG) places on every platform before. When that old folder
exists and holds something, it stays in use, so no cached dataset or stored experiment is lost; on Linux both are
the same folder. Explicit choices (``--store``, ``$DESCENTLAB_STORE``, ``--data-dir``, ``$DESCENTLAB_DATA``) are
applied by the callers before any of this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

APP = "descentlab"

Kind = Literal["cache", "data"]
_XDG = {"cache": ("XDG_CACHE_HOME", (".cache",)), "data": ("XDG_DATA_HOME", (".local", "share"))}


def legacy_dir(kind: Kind) -> Path:
    """The folder descentlab used before it followed platform conventions (the XDG rule, on every platform)."""
    variable, default = _XDG[kind]
    base = os.environ.get(variable) or Path.home().joinpath(*default)
    return Path(base).expanduser() / APP


def platform_dir(kind: Kind) -> Path:
    """The platform's folder for ``kind`` (``platformdirs``: ``user_cache_dir`` or ``user_data_dir``)."""
    import platformdirs

    find = platformdirs.user_cache_dir if kind == "cache" else platformdirs.user_data_dir
    return Path(find(APP, appauthor=False))


def user_dir(kind: Kind) -> Path:
    """descentlab's folder for ``kind``: the old (XDG) folder when it exists and is not empty, else the platform's."""
    old = legacy_dir(kind)
    try:
        if old.is_dir() and any(old.iterdir()):
            return old
    except OSError:  # unreadable: not ours to use
        pass
    return platform_dir(kind)
