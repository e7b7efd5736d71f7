"""Start the whole platform (`slipway up`) as a subprocess on free ports.

With `SLIPWAY_TEST_DATABASE_URL=postgresql://...` set, every test gets a fresh PostgreSQL
database (created from that server, dropped afterwards) instead of SQLite in its data dir
(`tests/dbswitch.py`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.dbswitch import fresh_database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    api: str
    router_port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    clients: list[httpx.Client] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    log_path: Path | None = None

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "slipway", *args, "--data-dir", str(self.data_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env or None,
        )
        return out.stdout

    def workspace(self, name: str) -> tuple[str, str]:
        created = json.loads(self.cli("workspace", "create", name, "--json"))
        return created["id"], created["apiKey"]

    def client(self, key: str) -> httpx.Client:
        client = httpx.Client(
            base_url=self.api, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.clients.append(client)
        return client

    def metrics(self) -> str:
        """`/metrics`, with the operator's token (the data directory's `metrics.token`)."""
        token = (self.data_dir / "metrics.token").read_text().strip()
        return httpx.get(
            f"http://127.0.0.1:{self.api_port}/metrics",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).text

    def get_app(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.router_port}{path}", headers={"Host": host}, timeout=10
        )


@pytest.fixture
def database_url() -> Iterator[str | None]:
    """None (SQLite in the data dir), or a fresh PostgreSQL database for this test."""
    with fresh_database_url() as url:
        yield url


def start_platform(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    lease_seconds: float | None = None,
    like: Platform | None = None,
    extra_env: dict[str, str] | None = None,
    router_port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> Platform:
    """`slipway up` on free ports (or, with `like`, the ports and data of a stopped one)."""
    api_port = like.api_port if like else free_port()
    router_port = like.router_port if like else router_port or free_port()
    data_dir = tmp_path / "data"
    # Local repositories only from this test's directory (the data dir below it is refused).
    env = {**os.environ, "SLIPWAY_HEALTH_TIMEOUT": "15", "SLIPWAY_LOCAL_GIT_ROOTS": str(tmp_path)}
    if database_url:
        env["SLIPWAY_DATABASE_URL"] = database_url
    if lease_seconds is not None:
        env["SLIPWAY_LEASE_SECONDS"] = str(lease_seconds)
    env.update(extra_env or {})
    log_path = tmp_path / "slipway.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "slipway",
                "up",
                "--data-dir",
                str(data_dir),
                "--api-port",
                str(api_port),
                "--router-port",
                str(router_port),
                *extra_args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90  # generous: other workers may be building (xdist)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(log_path.read_text())
        time.sleep(0.1)
    api = f"http://127.0.0.1:{api_port}/api/v1"
    return Platform(api, router_port, data_dir, proc, env=env, api_port=api_port, log_path=log_path)


def stop_platform(running: Platform) -> None:
    for client in running.clients:
        client.close()
    if running.process.poll() is not None:
        return
    running.process.send_signal(signal.SIGTERM)
    try:
        running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()


@pytest.fixture
def platform(tmp_path: Path, database_url: str | None) -> Iterator[Platform]:
    running = start_platform(tmp_path, database_url=database_url)
    try:
        yield running
    finally:
        stop_platform(running)


def wait_for(client: httpx.Client, path: str, *, until: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"still {body['status']} after {timeout}s: {body}")
        time.sleep(0.2)


FINISHED = {"succeeded", "failed", "cancelled"}


def deploy(client: httpx.Client, ws_id: str, app_id: str, **body: object) -> dict:
    """Trigger a deploy of `app_id` and wait until it has finished; returns the deployment."""
    answer = client.post(f"/workspaces/{ws_id}/deploy", json={"appId": app_id, **body})
    assert answer.status_code == 202, answer.text
    return wait_for(client, f"/workspaces/{ws_id}/deploy/{answer.json()['id']}", until=FINISHED)
