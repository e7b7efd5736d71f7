"""A rollout survives its replica owner: two processes (every role) on one PostgreSQL
database; the first holds the replicas lease. While the first runs a deployment's rollout
(its replicas started, their health check still pending) it is SIGKILLed. The second
takes the replicas lease, finds the rollout's lease dead, and resumes it from the stored
revision and desired state: the release command does not run again, the new revision's
replicas start under the second process, and its router serves the new code."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from test_rollback_owner import _sandboxes_under
from test_split_roles import _serve, _workspace
from test_two_workers import _stop, _wait_up
from tests.e2e.conftest import FINISHED, free_port, wait_for

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first

APP = """\
import http.server, os, time
time.sleep(float(os.environ.get("START_DELAY", "0")))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"%s"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _wait_log(api: httpx.Client, dep_id: str, marker: str, timeout: float = 180) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = api.get(f"/deploy/{dep_id}/logs").json()["logs"]
        if any(marker in line for line in lines):
            return lines
        assert time.monotonic() < deadline, f"no {marker!r} in the log: {lines}"
        time.sleep(0.1)


def test_the_next_replica_owner_finishes_a_rollout_whose_owner_was_killed(
    tmp_path: Path, make_repo, pg_url: str
) -> None:
    env = {
        **os.environ,
        "SLIPWAY_DATABASE_URL": pg_url,
        "SLIPWAY_ALLOW_LOCAL_GIT": "1",
        "SLIPWAY_HEALTH_TIMEOUT": "60",
        "SLIPWAY_LEASE_SECONDS": "3",
        "SLIPWAY_RATE_BURST": "0",
    }
    ports = {name: (free_port(), free_port()) for name in ("first", "second")}
    procs = []
    clients: list[httpx.Client] = []
    try:
        for name in ("first", "second"):  # the first leads
            api, router = ports[name]
            procs.append(_serve(tmp_path, name, "all", env, api=api, router=router))
            _wait_up(tmp_path, name, procs[-1])
        ws = _workspace(tmp_path, env)
        first, second = (
            httpx.Client(
                base_url=f"http://127.0.0.1:{ports[name][0]}/api/v1/workspaces/{ws['id']}",
                headers={"Authorization": f"Bearer {ws['apiKey']}"},
                timeout=30,
            )
            for name in ("first", "second")
        )
        clients = [first, second]
        repo = make_repo("app")
        repo.commit({"main.py": APP % "v1", "requirements.txt": ""}, "v1")
        app = first.post("/apps", json={"name": "api", "gitUrl": repo.url}).json()
        v1 = first.post("/deploy", json={"appId": app["id"]}).json()
        v1 = wait_for(first, f"/deploy/{v1['id']}", until=FINISHED, timeout=180)
        assert v1["status"] == "succeeded", v1

        settings = {"env": {"START_DELAY": "6"}, "releaseCommand": "echo released"}
        assert first.patch(f"/apps/{app['id']}", json=settings).status_code == 200
        repo.commit({"main.py": APP % "v2"}, "v2")
        v2 = first.post("/deploy", json={"appId": app["id"]}).json()
        _wait_log(first, v2["id"], "[deploy] Starting")
        assert _sandboxes_under(procs[0].pid), "the replica owner runs no replica"
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)

        done = wait_for(second, f"/deploy/{v2['id']}", until=FINISHED, timeout=120)
        assert done["status"] == "succeeded", done
        lines = second.get(f"/deploy/{v2['id']}/logs").json()["logs"]
        assert any("the process that runs replicas resumes it" in x for x in lines), lines
        assert any("the release phase already ran" in x for x in lines), lines
        assert sum("[release] Running" in x for x in lines) == 1, lines
        assert _sandboxes_under(procs[1].pid), "the new replica owner runs no replica"
        router = ports["second"][1]
        host = {"Host": f"api.acme.localhost:{router}"}
        page = httpx.get(f"http://127.0.0.1:{router}/", headers=host, timeout=10)
        assert (page.status_code, page.text) == (200, "v2"), page.text
    finally:
        for client in clients:
            client.close()
        _stop(procs)
