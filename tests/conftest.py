"""Fixtures shared by every test layer: real git repositories made on the spot."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

# Every `slipway up`/`serve` the suite starts listens for HTTPS on a free port (the default,
# 8443 for up and 443 for serve, would be taken by the first of the parallel platforms); the
# HTTPS tests pass `--https-port` themselves.
os.environ.setdefault("SLIPWAY_HTTPS_PORT", "0")

# The in-process platform fixtures (store, platform, client) of the API and security tests.
pytest_plugins = ["tests.integration.api.platform_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` (minutes each) come first, so that the workers start them at once
    instead of finishing the run with one of them alone (a stable sort: the rest keep their
    order)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


class GitRepo:
    """A real repository on disk that a test commits to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(
            ["git", "-C", str(self.path), *args],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return out.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        """Write files into the work tree without committing them."""
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)

    def commit(self, files: dict[str, str], message: str) -> str:
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return str(self.path)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[str], GitRepo]:
    def make(name: str) -> GitRepo:
        return GitRepo(tmp_path / "repos" / name)

    return make


PYTHON_APP = """\
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s path=%s host=%s" % (os.environ.get("GREETING", "hello"), self.path,
                self.headers.get("Host"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

# Answers with its body (`%s`, the version) once it has slept START_DELAY seconds before
# listening (a health check that takes as long as a test needs to act during it), and after
# REQUEST_DELAY seconds per request (a load that keeps requests in flight).
DELAYED_APP = """\
import http.server, os, time
time.sleep(float(os.environ.get("START_DELAY", "0")))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(float(os.environ.get("REQUEST_DELAY", "0")))
        body = b"%s"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""

NODE_APP = """\
const http = require("http");
const port = parseInt(process.env.PORT, 10);
http.createServer((req, res) => {
  res.writeHead(200, {"Content-Type": "text/plain"});
  res.end(`node ${process.env.GREETING || "hello"} built=${require("./built.json").built}`);
}).listen(port, "127.0.0.1");
"""
