"""Serve a repository as static files over HTTP (what `fleetpilot ota serve` runs), and keep its
timestamp fresh: the timestamp expires in a day, so the server re-signs it with the online key when
half of that has passed. Only the online keys are needed here, never the offline root keys."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cloud_reasoner.ota.repository import EXPIRY, Keys, Repository


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass  # one line per file a vehicle fetches is noise; errors still reach the client as statuses


class RepositoryServer:
    """A ThreadingHTTPServer on (host, port) over REPO (port 0: any free port, see .port)."""

    def __init__(self, repo_dir: Path, keys_dir: Path | None = None, host: str = "127.0.0.1", port: int = 0):
        self.repo = Repository(repo_dir)
        self.repo.load("root")  # a folder that is no repository fails here, before anything listens
        self.keys = None if keys_dir is None else Keys.load(keys_dir)
        handler = functools.partial(_QuietHandler, directory=str(self.repo.dir))
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def refresh_if_due(self) -> bool:
        """Re-sign the timestamp when less than half its lifetime is left; whether it did."""
        if self.keys is None:
            return False
        left = self.repo.load("timestamp").signed.expires - datetime.now(UTC)
        if left > EXPIRY["timestamp"] / 2:
            return False
        self.repo.refresh_timestamp(self.keys)
        return True

    def start(self) -> RepositoryServer:
        self.refresh_if_due()
        serve = threading.Thread(target=self.httpd.serve_forever, name="ota-http", daemon=True)
        fresh = threading.Thread(target=self._keep_fresh, name="ota-timestamp", daemon=True)
        self._threads = [serve, fresh]
        for t in self._threads:
            t.start()
        return self

    def _keep_fresh(self) -> None:
        while not self._stop.wait(60.0):
            self.refresh_if_due()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> RepositoryServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
