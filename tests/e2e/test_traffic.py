"""Revisions, traffic, promote, rollback and scale through `slipway up`, with real builds,
sandboxed replicas and the router: a 10/90 split measured exactly over 100 requests, a tag
URL reaching a 0% revision, promote, rollback without a build, scale to 3 and to 0, and a
failing release command and health check that leave the old revision serving."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

FINISHED = {"succeeded", "failed", "cancelled"}


def version(n: int) -> dict[str, str]:
    return {"main.py": PYTHON_APP.replace('"hello"', f'"v{n}"'), "requirements.txt": ""}


def deploy(api: httpx.Client, ws: str, app_id: str, **extra: object) -> dict:
    r = api.post(f"/workspaces/{ws}/deploy", json={"appId": app_id, **extra})
    assert r.status_code == 202, r.text
    return wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)


def until(check, *, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_split_tag_promote_rollback_and_scale(platform, make_repo):
    ws, key = platform.workspace("acme")
    api = platform.client(key)
    repo = make_repo("api")
    repo.commit(version(1), "v1")
    app = api.post(f"/workspaces/{ws}/apps", json={"name": "api", "gitUrl": repo.url}).json()
    host = "api.acme.localhost"
    first = deploy(api, ws, app["id"])
    assert first["status"] == "succeeded", first
    repo.commit(version(2), "v2")
    second = deploy(api, ws, app["id"], noTraffic=True)
    assert second["status"] == "succeeded", second
    assert platform.get_app(host).text.startswith("v1 ")  # noTraffic: traffic stayed
    assert platform.get_app("candidate---" + host).text.startswith("v2 ")

    # 10/90, exact over any 100 consecutive requests.
    splits = [
        {"revisionName": "api-00002", "percent": 10, "tag": "canary"},
        {"revisionName": "api-00001", "percent": 90, "tag": "stable"},
    ]
    r = api.post(f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic", json={"splits": splits})
    assert r.status_code == 200, r.text
    with httpx.Client(base_url=f"http://127.0.0.1:{platform.router_port}", timeout=10) as c:
        seen = Counter(c.get("/", headers={"Host": host}).text.split()[0] for _ in range(100))
    assert seen == {"v2": 10, "v1": 90}

    # A tag URL reaches its revision whatever its percent; promote then moves everything.
    r = api.post(f"/workspaces/{ws}/deploy/revisions/api-00002/promote")
    assert r.status_code == 200, r.text
    assert platform.get_app(host).text.startswith("v2 ")
    revisions = api.get(f"/workspaces/{ws}/deploy/apps/{app['id']}/revisions").json()
    assert [(x["revisionName"], x["trafficPercent"]) for x in revisions] == [
        ("api-00002", 100),
        ("api-00001", 0),
    ]
    splits = [
        {"revisionName": "api-00002", "percent": 100},
        {"revisionName": "api-00001", "percent": 0, "tag": "old"},
    ]
    api.post(f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic", json={"splits": splits})
    assert platform.get_app("old---" + host).text.startswith("v1 ")
    assert platform.get_app(host).text.startswith("v2 ")

    # Rollback to the first deployment: no build, old answer, new revision.
    r = api.post(f"/workspaces/{ws}/deploy/{first['id']}/rollback")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "deploying"
    back = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
    assert back["status"] == "succeeded", back
    assert back["revisionName"] == "api-00003"
    assert back["rolledBackFrom"] == first["id"]
    assert back["imageRef"] == first["imageRef"]
    logs = api.get(f"/workspaces/{ws}/deploy/{back['id']}/logs").json()["logs"]
    assert not any("nixpacks" in line.lower() or "install" in line.lower() for line in logs), logs
    assert platform.get_app(host).text.startswith("v1 ")

    # Scale to 3: runtime status shows 3 ready, with stable conditions.
    r = api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 3})
    assert r.status_code == 200, r.text
    assert r.json()["requestedReplicas"] == 3
    status_url = f"/workspaces/{ws}/deploy/{back['id']}/runtime-status"
    status = until(lambda: (s := api.get(status_url).json())["ready"] == 3 and s)
    assert status["phase"] == "Running" and status["total"] == 3
    again = api.get(status_url).json()
    assert again["conditions"] == status["conditions"]
    scale = api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 3})
    assert scale.json()["status"] == "running" and scale.json()["currentReplicas"] == 3

    # Scale to 0: the router answers 503; back to 1: it serves again.
    api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 0})
    answer = until(lambda: (a := platform.get_app(host)).status_code == 503 and a)
    assert answer.headers["Retry-After"]
    stopped = until(lambda: (s := api.get(status_url).json())["phase"] == "Stopped" and s)
    assert stopped["ready"] == 0
    api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 1})
    until(lambda: platform.get_app(host).status_code == 200)
    assert platform.get_app(host).text.startswith("v1 ")


def test_failing_release_command_and_health_check_keep_the_old_revision(platform, make_repo):
    ws, key = platform.workspace("ops")
    api = platform.client(key)
    repo = make_repo("svc")
    repo.commit(version(1), "v1")
    release = "python3 -c \"import os; print('release', os.environ['STAGE'])\""
    app = api.post(
        f"/workspaces/{ws}/apps",
        json={
            "name": "svc",
            "gitUrl": repo.url,
            "releaseCommand": release,
            "env": {"STAGE": "one"},
        },
    ).json()
    host = "svc.ops.localhost"
    first = deploy(api, ws, app["id"])
    assert first["status"] == "succeeded", first
    logs = api.get(f"/workspaces/{ws}/deploy/{first['id']}/logs").json()["logs"]
    assert "release one" in logs

    repo.commit(version(2), "v2")
    failing = "python3 -c \"import sys; print('migration failed'); sys.exit(7)\""
    api.patch(f"/workspaces/{ws}/apps/{app['id']}", json={"releaseCommand": failing})
    bad = deploy(api, ws, app["id"])
    assert bad["status"] == "failed"
    assert bad["error"] == "the release command exited with status 7."
    assert "migration failed" in api.get(f"/workspaces/{ws}/deploy/{bad['id']}/logs").json()["logs"]
    assert platform.get_app(host).text.startswith("v1 ")

    api.patch(f"/workspaces/{ws}/apps/{app['id']}", json={"releaseCommand": release})
    repo.commit({"main.py": "raise SystemExit(1)\n"}, "broken")
    sick = deploy(api, ws, app["id"])
    assert sick["status"] == "failed"
    assert "before becoming healthy" in sick["error"]
    assert platform.get_app(host).text.startswith("v1 ")
    revisions = api.get(f"/workspaces/{ws}/deploy/apps/{app['id']}/revisions").json()
    failed_rev = next(x for x in revisions if x["deploymentId"] == sick["id"])
    r = api.post(
        f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic",
        json={"splits": [{"revisionName": failed_rev["revisionName"], "percent": 100}]},
    )
    assert r.status_code == 422
    r = api.post(f"/workspaces/{ws}/deploy/{bad['id']}/rollback")
    assert r.status_code == 409
    assert platform.get_app(host).text.startswith("v1 ")
