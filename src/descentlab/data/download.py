"""Download dataset files from public mirrors: streamed, size- and checksum-verified, atomically placed.

A file is streamed into a temporary ``.part`` file next to its destination, its length and SHA-256 are checked,
and only then is it renamed into place with :func:`os.replace`. Whatever goes wrong (HTTP error, timeout, a
connection cut off halfway, a checksum mismatch) the temporary file is removed, so the cache never holds a
broken file. Mirrors are tried in order; the error names every URL tried and what went wrong with each.

``MIRRORS`` and ``CHECKSUMS`` are plain module-level dicts; every function also takes them as parameters so
tests (and users behind a proxy mirror) can point elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from descentlab.errors import DownloadError, UserError

log = logging.getLogger(__name__)


class Expected(NamedTuple):
    """What a downloaded file must be: its size in bytes and its SHA-256 (lowercase hex)."""

    size: int
    sha256: str


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# Base URLs, tried in order; a file's URL is base + file name.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's / Keras's mirror
    ),
    "fashion-mnist": (  # HTTPS first; the checksums guard every mirror alike
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # the README's links: plain HTTP only
    ),
}

# Sizes and SHA-256 as listed by TensorFlow Datasets (tensorflow_datasets/url_checksums/mnist.txt and
# fashion_mnist.txt). Cross-check: the MD5s that torchvision (torchvision/datasets/mnist.py) and the
# Fashion-MNIST README publish for the same files are given in the comments; we verify SHA-256 only.
CHECKSUMS: dict[str, dict[str, Expected]] = {
    "mnist": {
        # md5 f68b3c2dcbeaaa9fbdd348bbdeb94873
        "train-images-idx3-ubyte.gz": Expected(
            9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        # md5 d53e105ee54ea40749a09fcbcd1e9432
        "train-labels-idx1-ubyte.gz": Expected(
            28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        # md5 9fb629c4189551a2d022fa330f9573f3
        "t10k-images-idx3-ubyte.gz": Expected(
            1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        # md5 ec29112dd5afa0611ce80d1b7f02629c
        "t10k-labels-idx1-ubyte.gz": Expected(4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        # md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d
        "train-images-idx3-ubyte.gz": Expected(
            26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        # md5 25c81989df183df01b3e8a0aad5dffbe
        "train-labels-idx1-ubyte.gz": Expected(
            29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        # md5 bef4ecab320f06d8554ea6380940ec79
        "t10k-images-idx3-ubyte.gz": Expected(
            4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        # md5 bb300cfdad3c16e7a12a480ee83cd310
        "t10k-labels-idx1-ubyte.gz": Expected(5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
}

_CHUNK = 1 << 16


class _Failed(Exception):
    """One URL failed; the message says why (collected into one DownloadError)."""


def _stream(url: str, out, expected: Expected | None, timeout: float, progress: bool) -> tuple[int, str]:
    """Copy ``url`` into the open file ``out``; return (bytes written, sha256 hex)."""
    request = urllib.request.Request(url, headers={"User-Agent": "descentlab"})
    digest, got = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            total = int(header) if header and header.isdigit() else (expected.size if expected else None)
            bar = _progress_bar(url, total) if progress else None
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    if bar:
                        bar[0].update(bar[1], completed=got)
            finally:
                if bar:
                    bar[0].stop()
    except urllib.error.HTTPError as e:
        e.close()
        raise _Failed(f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _Failed(f"cannot connect ({e.reason})") from e
    except TimeoutError as e:
        raise _Failed(f"timed out after {timeout:g} s without data (got {got} bytes)") from e
    except (http.client.HTTPException, OSError) as e:
        raise _Failed(f"failed after {got} bytes ({type(e).__name__}: {e})") from e
    if total is not None and got < total:
        raise _Failed(f"incomplete: got {got} of {total} bytes")
    return got, digest.hexdigest()


def _progress_bar(url: str, total: int | None):
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.start()
    return bar, bar.add_task(url.rsplit("/", 1)[-1], total=total)


def download_file(
    urls: Sequence[str],
    dest: str | Path,
    *,
    expected: Expected | None = None,
    timeout: float = 30.0,
    progress: bool | None = None,
) -> Path:
    """Download the first of ``urls`` that works to ``dest``, verified against ``expected``.

    Each download is said through the ``descentlab.data.download`` logger (INFO). ``progress=None`` shows a
    progress bar only when stderr is a terminal and that logger shows INFO (as the command line's does; silence
    the ``descentlab`` logger and the bar goes too). ``timeout`` (seconds) applies to
    connecting and to each read. Raises :class:`DownloadError` naming each URL and its problem when none works;
    ``dest`` is then untouched and no temporary file is left behind.
    """
    dest = Path(dest)
    _make_folder(dest.parent)
    clean_stale_parts(dest.parent)
    show = sys.stderr.isatty() and log.isEnabledFor(logging.INFO) if progress is None else progress
    problems = []
    for url in urls:
        try:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.", suffix=".part")
        except OSError as e:
            raise UserError(f"cannot write to {dest.parent} ({e.strerror or e}); give a writable --data-dir or set "
                            "DESCENTLAB_DATA") from None
        try:
            log.info("downloading %s from %s", dest.name, url)
            with os.fdopen(fd, "wb") as out:
                got, sha256 = _stream(url, out, expected, timeout, show)
            if expected is not None and got != expected.size:
                raise _Failed(f"size mismatch: got {got} bytes, expected {expected.size}")
            if expected is not None and sha256 != expected.sha256.lower():
                raise _Failed(f"checksum mismatch: sha256 {sha256}, expected {expected.sha256}")
            os.replace(tmp, dest)
            return dest
        except _Failed as e:
            log.info("could not download %s from %s: %s", dest.name, url, e)
            problems.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    tried = "; ".join(problems) or "no mirror given"
    raise DownloadError(f"could not download {dest.name}: {tried}")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder {folder} ({e.strerror or e}); give a writable --data-dir or set "
                        "DESCENTLAB_DATA") from None


def clean_stale_parts(folder: Path) -> list[Path]:
    """Remove the ``.part`` files of downloads killed before they finished: those whose process (the pid in the
    name, ``.<file>.<pid>.<random>.part``) is gone. Returns what was removed."""
    removed = []
    for part in folder.glob(".*.part"):
        pieces = part.name.split(".")
        pid = int(pieces[-3]) if len(pieces) >= 4 and pieces[-3].isdecimal() else None
        if pid is not None and pid != os.getpid():
            try:
                os.kill(pid, 0)
                continue  # a live download of another process
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        elif pid is None and time.time() - part.stat().st_mtime < 3600:
            continue  # an older name without a pid: only once it is an hour old
        part.unlink(missing_ok=True)
        removed.append(part)
    return removed


def fetch_dataset(
    name: str,
    dest_dir: str | Path,
    *,
    files: Sequence[str] = IDX_FILES,
    mirrors: Mapping[str, Sequence[str]] | None = None,
    checksums: Mapping[str, Mapping[str, Expected]] | None = None,
    timeout: float = 30.0,
    progress: bool | None = None,
) -> Path:
    """Make sure ``dest_dir`` holds every file of dataset ``name``; download the missing ones. Returns dest_dir.

    Files already in ``dest_dir`` are trusted as they are (no re-hashing); every downloaded file must have an
    entry in ``checksums[name]``.
    """
    mirrors = MIRRORS if mirrors is None else mirrors
    checksums = CHECKSUMS if checksums is None else checksums
    if name not in mirrors:
        raise DownloadError(f"no download mirrors known for dataset {name!r}; known: {sorted(mirrors)}")
    dest_dir = Path(dest_dir)
    table = checksums.get(name, {})
    created = [p for p in (dest_dir, *dest_dir.parents) if not p.exists()]
    try:
        for file in files:
            if (dest_dir / file).is_file():
                continue
            if file not in table:
                raise DownloadError(f"no checksum known for {name}/{file}; refusing to download unverified data")
            urls = [base.rstrip("/") + "/" + file for base in mirrors[name]]
            download_file(urls, dest_dir / file, expected=table[file], timeout=timeout, progress=progress)
    except BaseException:
        for folder in created:  # innermost first: leave no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return dest_dir
