"""Roles in separate processes on one PostgreSQL database: a worker (the replica owner), an
API process and a router process (`slipway serve --role ...`).

- A deploy made through the API process becomes reachable through the router process: the
  router builds its table from the store (traffic + the replicas the worker published).
- The API process answers runtime-status and revisions' ready/total from published state.
- A WebSocket on the API process streams the build running in the worker process live: a
  line written before a pause in the build arrives while the build is still running.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_two_workers import _stop, _wait_up
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import free_port
from websockets.asyncio.client import connect

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first

PAUSE_SECONDS = 10  # the build sleeps this long between two lines
NIXPACKS = (
    "[phases.build]\n"
    f"cmds = ['echo before-the-pause', 'sleep {PAUSE_SECONDS}', 'echo after-the-pause']\n"
)


def _serve(
    tmp_path: Path, name: str, role: str, env: dict[str, str], *, api: int, router: int
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "slipway", "serve", "--role", role]
    args += ["--data-dir", str(tmp_path / "data"), "--api-port", str(api)]
    args += ["--router-port", str(router)]
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def _workspace(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    args = [sys.executable, "-m", "slipway", "workspace", "create", "acme", "--json"]
    args += ["--data-dir", str(tmp_path / "data")]
    done = subprocess.run(args, env=env, check=True, capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)


def test_router_and_api_processes_read_published_state(
    tmp_path: Path, make_repo, pg_url: str
) -> None:
    api_port, router_port = free_port(), free_port()
    env = {
        **os.environ,
        "SLIPWAY_DATABASE_URL": pg_url,
        "SLIPWAY_ALLOW_LOCAL_GIT": "1",
        "SLIPWAY_HEALTH_TIMEOUT": "60",
    }
    procs: list[subprocess.Popen[bytes]] = []
    names = ("worker", "api", "router")  # one at a time: the first one migrates
    try:
        for name in names:
            port = api_port if name == "api" else free_port()
            rport = router_port if name == "router" else free_port()
            procs.append(_serve(tmp_path, name, name, env, api=port, router=rport))
            _wait_up(tmp_path, name, procs[-1])
        ws = _workspace(tmp_path, env)
        base = f"http://127.0.0.1:{api_port}/api/v1/workspaces/{ws['id']}"
        headers = {"Authorization": f"Bearer {ws['apiKey']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
            dep, lines = asyncio.run(_deploy_and_follow(api, make_repo, base, ws["apiKey"]))
            _check_live(lines)
            assert dep["status"] == "succeeded", dep
            _check_served(api, dep, router_port)
        logs = [(tmp_path / f"{n}.log").read_text() for n in names]
        assert all("Traceback" not in text for text in logs), logs
    finally:
        _stop(procs)


async def _deploy_and_follow(
    api: httpx.Client, make_repo, base: str, key: str
) -> tuple[dict, list[tuple[str, str]]]:
    """Deploy, follow its log over the API process's WebSocket; each line with the
    deployment's status read right after it arrived."""
    repo = make_repo("web")
    files = {"main.py": PYTHON_APP, "requirements.txt": "", "nixpacks.toml": NIXPACKS}
    sha = repo.commit(files, "v1")
    app = api.post("/apps", json={"name": "web", "gitUrl": repo.url}).json()
    created = api.post("/deploy", json={"appId": app["id"], "gitCommitSha": sha})
    assert created.status_code == 202, created.text
    dep_id = created.json()["id"]
    url = base.replace("http://", "ws://") + f"/deploy/{dep_id}/logs/stream?token={key}"
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(300), connect(url) as ws:
        async for message in ws:
            frame = json.loads(message)
            if frame["type"] != "log":
                break
            status = await asyncio.to_thread(lambda: api.get(f"/deploy/{dep_id}").json())
            seen.append((frame["line"], status["status"]))
    return _wait_terminal(api, dep_id), seen


def _check_live(lines: list[tuple[str, str]]) -> None:
    before = [status for line, status in lines if line.endswith("before-the-pause")]
    after = [status for line, status in lines if line.endswith("after-the-pause")]
    assert before and after, lines
    assert before[0] == "building", lines  # it came while the build still ran


def _wait_terminal(api: httpx.Client, dep_id: str) -> dict:
    deadline = time.monotonic() + 300
    while True:
        dep = api.get(f"/deploy/{dep_id}").json()
        if dep["status"] in {"succeeded", "failed", "cancelled"}:
            return dep
        assert time.monotonic() < deadline, dep
        time.sleep(0.5)


def _check_served(api: httpx.Client, dep: dict, router_port: int) -> None:
    status = _eventually(lambda: api.get(f"/deploy/{dep['id']}/runtime-status").json(), "Running")
    assert status["ready"] >= 1, status
    revisions = api.get(f"/deploy/apps/{dep['appId']}/revisions").json()
    assert revisions[0]["ready"] >= 1 and revisions[0]["total"] >= 1, revisions
    host = f"web.acme.localhost:{router_port}"

    def through_router() -> dict:
        got = httpx.get(f"http://127.0.0.1:{router_port}/", headers={"Host": host}, timeout=10)
        return {"phase": "served" if got.status_code == 200 else got.status_code, "body": got.text}

    served = _eventually(through_router, "served")
    assert served["body"].startswith("hello path=/"), served


def _eventually(read, phase: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if got.get("phase") == phase:
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
