"""Crash recovery: SIGKILL the whole platform at each point of a deploy, start it again,
and check what the issue asks: every deployment terminal within 30 s of the restart, no
two revisions for one deployment, the app serving the right revision, no orphan process.

Each point is hit deterministically: the build and release commands print a marker and then
sleep, the app sleeps before it listens (health check), and the pipeline's own log lines
mark the claim/checkout and the traffic shift. The test waits for the marker in the build
log, then kills.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import DELAYED_APP
from tests.e2e.conftest import Platform, start_platform, stop_platform, wait_for
from tests.support import procs

pytestmark = pytest.mark.e2e

RECOVERY_SECONDS = 30


# point -> (app settings for that deploy, the log text to kill at, a line the restarted
# platform must add to the log): a build is queued again and re-run; a rollout cut short is
# resumed from its stored revision (the release command runs again only when it had not
# finished); one whose routes had already changed is finished. Every one succeeds. (The
# traffic shift takes milliseconds: the kill may come after it, so no line is required.)
POINTS: dict[str, tuple[dict[str, object], str, str | None]] = {
    "checkout": ({}, "[git] Checking out", "the build is queued again"),
    "build": (
        {"buildCommand": "echo BUILD-PAUSE && sleep 6"},
        "BUILD-PAUSE",
        "the build is queued again",
    ),
    "release": (
        {"releaseCommand": "echo RELEASE-PAUSE && sleep 6"},
        "RELEASE-PAUSE",
        "[release] Running",
    ),
    "health check": (
        {"env": {"START_DELAY": "8"}},
        "[deploy] Starting",
        "the release phase already ran",
    ),
    "traffic shift": ({}, "is healthy", None),
}
PLAIN: dict[str, object] = {"buildCommand": None, "releaseCommand": None, "env": {}}


def _processes_under(path: Path) -> list[int]:
    """Pids whose command line mentions `path` (replicas bind their image from it)."""
    return [p.pid for p in procs.with_text(str(path)) if p.pid != os.getpid()]


def _wait_no_orphans(path: Path) -> None:
    deadline = time.monotonic() + 30  # the kernel reaps a dead sandbox's tree; slow when busy
    while _processes_under(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"orphan processes after SIGKILL: {_processes_under(path)}")
        time.sleep(0.2)


def _wait_log(api: httpx.Client, path: str, marker: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lines = api.get(f"{path}/logs").json()["logs"]
        if any(marker in line for line in lines):
            return
        status = api.get(path).json()["status"]
        assert status in {"queued", "building", "deploying"}, (marker, status, lines)
        assert time.monotonic() < deadline, f"no {marker!r} in the log: {lines}"
        time.sleep(0.05)


def _serving_revision(revisions: list[dict]) -> str:
    """The revision the stored traffic sends everything to."""
    return next(r["revisionName"] for r in revisions if r["trafficPercent"] == 100)


def test_sigkill_at_every_point_of_a_deploy(tmp_path: Path, make_repo, database_url) -> None:
    running = start_platform(tmp_path, database_url=database_url, lease_seconds=3)
    try:
        ws_id, key = running.workspace("acme")
        api = running.client(key)
        repo = make_repo("crashy")
        repo.commit({"main.py": DELAYED_APP % "v0", "requirements.txt": ""}, "feat: v0")
        app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "crashy", "gitUrl": repo.url})
        assert app.status_code == 201, app.text
        base = f"/workspaces/{ws_id}/apps/{app.json()['id']}"
        revisions_path = f"/workspaces/{ws_id}/deploy/apps/{app.json()['id']}/revisions"
        first = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app.json()["id"]}).json()
        first = wait_for(api, f"/workspaces/{ws_id}/deploy/{first['id']}", until={"succeeded"})
        bodies = {first["revisionName"]: "v0"}
        dep_ids = [first["id"]]
        for n, (point, (settings, marker, resumed)) in enumerate(POINTS.items(), start=1):
            assert api.patch(base, json={**PLAIN, **settings}).status_code == 200
            repo.commit({"main.py": DELAYED_APP % f"v{n}"}, f"feat: v{n}")
            dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app.json()["id"]})
            assert dep.status_code == 202, dep.text
            path = f"/workspaces/{ws_id}/deploy/{dep.json()['id']}"
            dep_ids.append(dep.json()["id"])
            _wait_log(api, path, marker)
            before = len(api.get(f"{path}/logs").json()["logs"])
            running.process.send_signal(signal.SIGKILL)
            running.process.wait(timeout=30)
            for client in running.clients:
                client.close()
            _wait_no_orphans(running.data_dir)
            running = start_platform(
                tmp_path, database_url=database_url, lease_seconds=3, like=running
            )
            api = running.client(key)
            for dep_id in dep_ids:
                done = wait_for(
                    api,
                    f"/workspaces/{ws_id}/deploy/{dep_id}",
                    until={"succeeded", "failed", "cancelled"},
                    timeout=RECOVERY_SECONDS,
                )
                if dep_id == dep_ids[-1]:
                    assert done["status"] == "succeeded", (point, done)
                    bodies[done["revisionName"]] = f"v{n}"
                    after = api.get(f"{path}/logs").json()["logs"][before:]
                    assert resumed is None or any(resumed in x for x in after), (point, after)
            revisions = api.get(revisions_path).json()
            owners = [r["deploymentId"] for r in revisions]
            assert len(owners) == len(set(owners)), revisions
            serving = _serving_revision(revisions)
            _wait_serving(running, "crashy.acme.localhost", bodies[serving])
    finally:
        stop_platform(running)
        _wait_no_orphans(running.data_dir)


def _wait_serving(platform: Platform, host: str, expected: str) -> None:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        try:
            got = platform.get_app(host)
            if got.status_code == 200 and got.text == expected:
                return
        except httpx.TransportError:
            got = None
        assert time.monotonic() < deadline, (expected, got and got.status_code, got and got.text)
        time.sleep(0.2)
