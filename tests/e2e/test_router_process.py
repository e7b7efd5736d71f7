"""`slipway up` serves the data plane from a process of its own: the API answers while the
router is stopped cold, a router that dies comes back with every app's routes, and
`/metrics` carries the router process's figures."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Platform, deploy

pytestmark = pytest.mark.e2e

APP = """\
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def router_pid(platform: Platform) -> int:
    """The child of `slipway up` that runs `slipway.router.child`."""
    children = Path(f"/proc/{platform.process.pid}/task/{platform.process.pid}/children")
    for pid in children.read_text().split():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"slipway.router.child" in cmdline:
            return int(pid)
    raise AssertionError("no router process under slipway up")


def serves(platform: Platform, host: str) -> bool:
    try:
        return platform.get_app(host).text == "hello"
    except httpx.TransportError:
        return False


def test_the_router_is_a_process_of_its_own(platform: Platform, make_repo) -> None:
    ws_id, key = platform.workspace("edge")
    api = platform.client(key)
    repo = make_repo("hello")
    repo.commit({"main.py": APP, "Procfile": "web: python3 main.py\n"}, "feat: hello")
    app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "hello", "gitUrl": repo.url}).json()
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"
    host = "hello.edge.localhost"
    assert serves(platform, host)

    first = router_pid(platform)
    assert first != platform.process.pid
    # A router that cannot run (stopped cold here; saturated in life) leaves the API serving.
    os.kill(first, signal.SIGSTOP)
    try:
        assert api.get(f"/workspaces/{ws_id}/apps/{app['id']}", timeout=5).status_code == 200
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"http://127.0.0.1:{platform.router_port}/", headers={"Host": host},
                      timeout=1)  # fmt: skip
    finally:
        os.kill(first, signal.SIGCONT)
    assert serves(platform, host)

    # A router that dies is started again with every route.
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while not serves(platform, host):
        assert time.monotonic() < deadline, "the router did not come back"
        time.sleep(0.05)
    assert router_pid(platform) != first

    text = platform.metrics()
    assert 'slipway_router_requests_total{app="' in text
    assert "slipway_router_process_open_fds" in text  # the router's own process
    assert "\nprocess_open_fds" in text  # and the control process's
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(families) == len(set(families)), "a metric family appears twice"
