"""Secrets through `slipway up`: an app whose build command, release command and process all
print an env value. The stored build log, the runtime logs (REST and files) and the database
files show `[redacted]`, never the value; the owner still reads the env back through the API."""

from __future__ import annotations

import time

import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

SECRET = "sk_live_9f8e7d6c5b4a"
PRINT = "python3 -c \"import os; print('{what} sees', os.environ['API_SECRET'], flush=True)\""
APP = "import os\nprint('app sees', os.environ['API_SECRET'], flush=True)\n" + PYTHON_APP


def _runtime_lines(api, ws_id: str, app_id: str, *, wanted: str, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            e["line"] for e in api.get(f"/workspaces/{ws_id}/apps/{app_id}/logs").json()["logs"]
        ]
        if any(wanted in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.3)


def test_env_values_never_reach_logs_or_the_database_files(platform, make_repo):
    ws_id, key = platform.workspace("acme")
    api = platform.client(key)
    repo = make_repo("leaky")
    repo.commit({"main.py": APP, "requirements.txt": ""}, "feat: prints its secret")
    created = api.post(
        f"/workspaces/{ws_id}/apps",
        json={
            "name": "leaky",
            "gitUrl": repo.url,
            "env": {"API_SECRET": SECRET, "DEBUG": "1"},
            "buildCommand": PRINT.format(what="build"),
            "releaseCommand": PRINT.format(what="release"),
        },
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["env"]["API_SECRET"] == SECRET  # the owner reads it back

    dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
    done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep['id']}", until={"succeeded", "failed"})
    assert done["status"] == "succeeded", done

    build = api.get(f"/workspaces/{ws_id}/deploy/{dep['id']}/logs").json()["logs"]
    assert "build sees [redacted]" in build
    assert "release sees [redacted]" in build
    assert not [line for line in build if SECRET in line]

    runtime = _runtime_lines(api, ws_id, app["id"], wanted="app sees")
    assert "app sees [redacted]" in runtime, runtime
    assert not [line for line in runtime if SECRET in line]

    files = [p for p in (platform.data_dir / "logs").rglob("*") if p.is_file()]
    files += list(platform.data_dir.glob("slipway.db*"))
    assert files
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
