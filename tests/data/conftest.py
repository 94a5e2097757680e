"""Fixtures for the data tests: an isolated HOME / cache, tiny IDX datasets, and a local HTTP server."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from descentlab.data import sources
from descentlab.data.download import IDX_FILES, Expected
from descentlab.data.idx import write_idx


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Fresh HOME, cache and no DESCENTLAB_DATA / KERAS_HOME / Debian folder; in-process caches cleared."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DESCENTLAB_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    sources.clear_caches()
    yield home
    sources.clear_caches()


def make_arrays(n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random MNIST-shaped arrays with every class present."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_dir(directory: Path, arrays: dict[str, np.ndarray], *, gz: bool = True) -> Path:
    """Write ``arrays`` as the 4 standard IDX files (gzipped or not) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for file, key in zip(IDX_FILES, ("x_train", "y_train", "x_test", "y_test")):
        write_idx(directory / (file if gz else file.removesuffix(".gz")), arrays[key])
    return directory


class Server:
    """A local HTTP server: ``routes`` maps a URL path to bytes; ``cut`` paths send half the body and hang up;
    ``slow`` paths wait before answering. ``requests`` records every path asked for."""

    def __init__(self):
        self.routes: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.slow: dict[str, float] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                time.sleep(server.slow.get(self.path, 0.0))
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def publish(self, prefix: str, directory: Path) -> dict[str, Expected]:
        """Serve every file of ``directory`` under ``prefix``; return their sizes and SHA-256."""
        table = {}
        for path in directory.iterdir():
            blob = path.read_bytes()
            self.routes[f"{prefix}/{path.name}"] = blob
            table[path.name] = Expected(len(blob), hashlib.sha256(blob).hexdigest())
        return table

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="session")
def mnist1d_cache(tmp_path_factory) -> Path:
    """A cache folder holding MNIST-1D, generated once per test session."""
    cache = tmp_path_factory.mktemp("mnist1d-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(cache))
    try:
        sources.load_mnist1d()
    finally:
        mp.undo()
        sources.clear_caches()
    return cache
