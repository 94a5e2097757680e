"""Where the cache and the default store live: the platform's folders (platformdirs), the old XDG folders kept
while they hold data, and the explicit choices ($DESCENTLAB_STORE, $DESCENTLAB_DATA, --data-dir) first."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from descentlab import locations
from descentlab.data import sources
from descentlab.store import default_store_path


@pytest.fixture
def mac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A platform whose folders are not the XDG ones (as on macOS), and a home with nothing in it yet."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "DESCENTLAB_STORE", "DESCENTLAB_DATA"):
        monkeypatch.delenv(variable, raising=False)
    library = home / "Library"
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app, appauthor=None: str(library / "Caches" / app))
    monkeypatch.setattr(platformdirs, "user_data_dir",
                        lambda app, appauthor=None: str(library / "Application Support" / app))
    return home


def test_new_installs_use_the_platform_folders(mac: Path) -> None:
    assert sources.cache_dir() == mac / "Library" / "Caches" / "descentlab"
    assert sources.mnist1d_path().parent == mac / "Library" / "Caches" / "descentlab" / "mnist1d"
    assert default_store_path() == mac / "Library" / "Application Support" / "descentlab" / "runs.sqlite"


def test_old_folders_that_hold_data_stay_in_use(mac: Path) -> None:
    (mac / ".cache" / "descentlab" / "mnist1d").mkdir(parents=True)
    (mac / ".local" / "share" / "descentlab").mkdir(parents=True)
    (mac / ".local" / "share" / "descentlab" / "runs.sqlite").write_bytes(b"")
    assert sources.cache_dir() == mac / ".cache" / "descentlab"
    assert default_store_path() == mac / ".local" / "share" / "descentlab" / "runs.sqlite"


def test_an_empty_old_folder_is_not_kept(mac: Path) -> None:
    (mac / ".cache" / "descentlab").mkdir(parents=True)
    assert sources.cache_dir() == mac / "Library" / "Caches" / "descentlab"


def test_old_folders_follow_xdg_variables(mac: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "descentlab").mkdir(parents=True)
    (tmp_path / "xdg" / "descentlab" / "runs.sqlite").write_bytes(b"")
    assert locations.legacy_dir("data") == tmp_path / "xdg" / "descentlab"
    assert default_store_path() == tmp_path / "xdg" / "descentlab" / "runs.sqlite"


def test_explicit_choices_win(mac: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESCENTLAB_STORE", str(tmp_path / "mine.sqlite"))
    assert default_store_path() == tmp_path / "mine.sqlite"
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "data"))
    places = sources.candidates("mnist", tmp_path / "given")
    assert places[0] == tmp_path / "given"
    assert places.index(tmp_path / "data" / "mnist") < places.index(sources.cache_dir() / "mnist")


def test_linux_platform_folders_are_the_xdg_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On Linux platformdirs gives the folders descentlab always used, so nothing moves there."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a Linux (XDG) platform")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    assert locations.platform_dir("cache") == locations.legacy_dir("cache") == tmp_path / "c" / "descentlab"
    assert locations.platform_dir("data") == locations.legacy_dir("data") == tmp_path / "d" / "descentlab"
