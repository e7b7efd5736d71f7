"""Slipway processes of one test on one PostgreSQL database and one data directory, each
with its roles, its API and router ports and its log file; a workspace made through the
server CLI; API clients of any process. `Cluster.stop` ends them all (SIGTERM, then KILL)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from test_split_roles import _serve, _workspace
from test_two_workers import _stop, _wait_up
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import FINISHED, free_port, wait_for


class Cluster:
    def __init__(self, tmp_path: Path, pg_url: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "SLIPWAY_DATABASE_URL": pg_url,
            "SLIPWAY_ALLOW_LOCAL_GIT": "1",
            "SLIPWAY_HEALTH_TIMEOUT": "60",
            "SLIPWAY_RATE_BURST": "0",
            **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, tuple[int, int]] = {}  # name -> (API, router)
        self._workspace: dict[str, str] | None = None
        self._clients: list[httpx.Client] = []

    def start(self, name: str, roles: str) -> subprocess.Popen[bytes]:
        """Start a process and return once it says it is up (in start order: the first
        worker to start holds the replicas lease)."""
        self.ports[name] = (free_port(), free_port())
        api, router = self.ports[name]
        proc = _serve(self.tmp_path, name, roles, self.env, api=api, router=router)
        self.procs[name] = proc
        _wait_up(self.tmp_path, name, proc)
        return proc

    @property
    def workspace(self) -> dict[str, str]:
        if self._workspace is None:
            self._workspace = _workspace(self.tmp_path, self.env)
        return self._workspace

    def client(self, name: str) -> httpx.Client:
        """The workspace's API, through process `name`."""
        ws = self.workspace
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.ports[name][0]}/api/v1/workspaces/{ws['id']}",
            headers={"Authorization": f"Bearer {ws['apiKey']}"},
            timeout=90,
        )
        self._clients.append(client)
        return client

    def get(self, name: str, app: str) -> httpx.Response:
        """`GET /` of app `app` of the workspace, through process `name`'s router."""
        router = self.ports[name][1]
        host = {"Host": f"{app}.acme.localhost:{router}"}
        return httpx.get(f"http://127.0.0.1:{router}/", headers=host, timeout=10)

    def deploy_versions(
        self, client: httpx.Client, repo: Any, app_id: str, versions: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Commit and deploy PYTHON_APP answering each version in turn; each must succeed."""
        done = []
        for version in versions:
            code = PYTHON_APP.replace('"hello"', f'"{version}"')
            repo.commit({"main.py": code, "requirements.txt": ""}, version)
            dep = client.post("/deploy", json={"appId": app_id}).json()
            finished = wait_for(client, f"/deploy/{dep['id']}", until=FINISHED, timeout=180)
            assert finished["status"] == "succeeded", finished
            done.append(finished)
        return done

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        _stop(list(self.procs.values()))
