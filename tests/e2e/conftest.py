"""Start the whole platform (`slipway up`) as a subprocess on free ports."""

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

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "slipway", *args, "--data-dir", str(self.data_dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
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

    def get_app(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.router_port}{path}", headers={"Host": host}, timeout=10
        )


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    api_port, router_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {**os.environ, "SLIPWAY_HEALTH_TIMEOUT": "15"}
    log = (tmp_path / "slipway.log").open("wb")
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
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{api_port}/api/v1"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((tmp_path / "slipway.log").read_text())
        time.sleep(0.1)
    running = Platform(api, router_port, data_dir, proc)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_for(client: httpx.Client, path: str, *, until: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"still {body['status']} after {timeout}s: {body}")
        time.sleep(0.2)
