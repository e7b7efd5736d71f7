"""Several control-plane processes on one PostgreSQL database: an API process and two
worker processes (`slipway serve --role ...`) build 20 queued deployments of 5 apps.

Each deployment is built exactly once (one checkout in its log, one revision), both workers
build, and each app's deployments ran one at a time in creation order."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first

APPS, PER_APP = 5, 4
TERMINAL = {"succeeded", "failed", "cancelled"}


def _serve(tmp_path: Path, name: str, role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "slipway", "serve", "--role", role]
    args += ["--data-dir", str(tmp_path / "data"), "--api-port", env["API_PORT"]]
    args += ["--router-port", str(free_port())]
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_up(tmp_path: Path, name: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    log = tmp_path / f"{name}.log"
    while "Slipway is up" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_workers_build_each_deployment_once_in_order(
    tmp_path: Path, make_repo, pg_url: str
) -> None:
    api_port = str(free_port())
    env = {
        **os.environ,
        "SLIPWAY_DATABASE_URL": pg_url,
        "SLIPWAY_ALLOW_LOCAL_GIT": "1",
        "SLIPWAY_HEALTH_TIMEOUT": "30",
        "API_PORT": api_port,
        # One workspace here: let both workers build it at once, and poll without a limit.
        "SLIPWAY_BUILDS_PER_WORKSPACE": "4",
        "SLIPWAY_RATE_BURST": "0",
    }
    procs = [_serve(tmp_path, "api", "api", env)]
    try:
        _wait_up(tmp_path, "api", procs[0])
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "slipway",
                "workspace",
                "create",
                "acme",
                "--json",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ws = json.loads(created.stdout)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}/api/v1/workspaces/{ws['id']}",
            headers={"Authorization": f"Bearer {ws['apiKey']}"},
            timeout=30,
        )
        queued = _queue_deployments(api, make_repo)
        for name in ("worker-a", "worker-b"):
            procs.append(_serve(tmp_path, name, "worker", env))
        deps = _wait_all_terminal(api, queued)
        assert {d["status"] for d in deps.values()} == {"succeeded"}, deps
        _check_built_once(api, deps)
        _check_in_order(queued, deps)
        logs = [(tmp_path / f"{n}.log").read_text() for n in ("worker-a", "worker-b")]
        assert all("Traceback" not in text for text in logs), logs
        api.close()
    finally:
        _stop(procs)


def _queue_deployments(api: httpx.Client, make_repo) -> dict[str, list[str]]:
    """Per app id, its deployment ids in creation order (each of its own commit)."""
    queued: dict[str, list[str]] = {}
    for a in range(APPS):
        repo = make_repo(f"app{a}")
        shas = [
            repo.commit({"main.py": PYTHON_APP + f"# {n}\n", "requirements.txt": ""}, f"v{n}")
            for n in range(PER_APP)
        ]
        app = api.post("/apps", json={"name": f"app{a}", "gitUrl": repo.url}).json()
        queued[app["id"]] = []
        for sha in shas:
            dep = api.post("/deploy", json={"appId": app["id"], "gitCommitSha": sha})
            assert dep.status_code == 202, dep.text
            assert dep.json()["status"] == "queued"
            queued[app["id"]].append(dep.json()["id"])
    return queued


def _wait_all_terminal(api: httpx.Client, queued: dict[str, list[str]]) -> dict[str, dict]:
    deadline = time.monotonic() + 300
    while True:
        deps = {d: api.get(f"/deploy/{d}").json() for ids in queued.values() for d in ids}
        if all(dep["status"] in TERMINAL for dep in deps.values()):
            return deps
        assert time.monotonic() < deadline, deps
        time.sleep(0.5)


def _check_built_once(api: httpx.Client, deps: dict[str, dict]) -> None:
    for dep_id in deps:
        lines = api.get(f"/deploy/{dep_id}/logs").json()["logs"]
        assert sum("[git] Checking out" in line for line in lines) == 1, lines
    for app_id in {dep["appId"] for dep in deps.values()}:
        revisions = api.get(f"/deploy/apps/{app_id}/revisions").json()
        assert len(revisions) == PER_APP, revisions


def _check_in_order(queued: dict[str, list[str]], deps: dict[str, dict]) -> None:
    for ids in queued.values():
        runs = [(deps[d]["startedAt"], deps[d]["finishedAt"]) for d in ids]
        for (_, finished), (started, _) in itertools.pairwise(runs):
            assert finished <= started, runs  # one at a time, in creation order
        names = [deps[d]["revisionName"] for d in ids]
        assert names == sorted(names), names
