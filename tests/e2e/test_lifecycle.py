"""Cancelling a running build, and stopping the platform: nothing may be left running."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import deploy

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if text in line and "ps -eo" not in line]


def netns_named(prefix: str) -> list[str]:
    return [p.name for p in Path("/run/netns").iterdir() if p.name.startswith(prefix)]


def test_cancel_kills_the_build_and_keeps_serving(platform, make_repo):
    ws_id, key = platform.workspace("ops")
    api = platform.client(key)
    repo = make_repo("slow")
    repo.commit({"main.py": PYTHON_APP}, "first")
    app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "slow", "gitUrl": repo.url}).json()
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"

    marker = "slipway-cancel-marker-7431"
    api.patch(
        f"/workspaces/{ws_id}/apps/{app['id']}",
        json={"buildCommand": f"echo started; sleep 300 # {marker}"},
    )
    dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
    deadline = time.monotonic() + 60
    while "started" not in api.get(f"/workspaces/{ws_id}/deploy/{dep['id']}/logs").json()["logs"]:
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.2)
    assert processes_mentioning(marker), "the build command should be running"

    cancelled = api.post(f"/workspaces/{ws_id}/deploy/{dep['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 15
    while processes_mentioning(marker):
        assert time.monotonic() < deadline, processes_mentioning(marker)
        time.sleep(0.2)
    assert api.post(f"/workspaces/{ws_id}/deploy/{dep['id']}/cancel").status_code == 409
    assert platform.get_app("slow.ops.localhost").status_code == 200

    # The next deployment of the app is not blocked by the cancelled one.
    api.patch(f"/workspaces/{ws_id}/apps/{app['id']}", json={"buildCommand": None})
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"


def test_stopping_the_platform_stops_every_replica(platform, make_repo):
    ws_id, key = platform.workspace("stop")
    api = platform.client(key)
    repo = make_repo("svc")
    repo.commit({"main.py": PYTHON_APP}, "first")
    app = api.post(
        f"/workspaces/{ws_id}/apps", json={"name": "svc", "gitUrl": repo.url, "replicas": 2}
    ).json()
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"
    images = str(platform.data_dir / "images")
    assert len(processes_mentioning(images)) == 4  # 2 replicas: bwrap's parent and init each
    namespaces = f"slipway-{platform.process.pid}-"
    assert len(netns_named(namespaces)) == 2  # a network namespace per replica

    platform.process.send_signal(signal.SIGTERM)
    assert platform.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while processes_mentioning(images):
        assert time.monotonic() < deadline, processes_mentioning(images)
        time.sleep(0.2)
    assert not netns_named(namespaces)
