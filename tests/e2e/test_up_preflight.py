"""`slipway up` checks before it starts: a port already taken, or a program the sandbox needs
that is missing, is one line naming it and what to do, exit status 2, and nothing announced
or started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e


def up(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway", "up", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, env=env or dict(os.environ),
    )  # fmt: skip


def test_a_busy_port_is_named_with_its_flag_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = up(tmp_path, "--api-port", str(port), "--router-port", str(free_port()))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"error: port {port} (the API) is in use on 127.0.0.1: start with --api-port PORT"
    ]
    assert "Slipway is up" not in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # nothing started, nothing written


def test_a_missing_bubblewrap_is_named_with_its_package(tmp_path: Path) -> None:
    tools = tmp_path / "bin"  # every program of PATH but bwrap
    tools.mkdir()
    for name in ("git", "pasta", "setpriv", "nsenter", "prlimit", "ip", "caddy"):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    env = {**os.environ, "PATH": str(tools)}
    done = up(tmp_path, "--api-port", str(free_port()), "--router-port", str(free_port()), env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: bwrap is missing (apt-get install bubblewrap)" in done.stderr
    assert "Slipway is up" not in done.stdout + done.stderr
