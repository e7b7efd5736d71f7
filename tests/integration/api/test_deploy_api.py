"""`/workspaces/{wsId}/deploy`: trigger, list, read, logs, runtime status, cancel."""

from __future__ import annotations

import re
from typing import Any

import api_helpers as h
import httpx
import pytest

from slipway.services.platform import Platform

DEPLOYMENT_FIELDS = {
    "id", "status", "appId", "gitBranch", "gitCommitSha", "gitCommitMessage", "buildpack",
    "imageRef", "revisionName", "rolledBackFrom", "error", "durationSeconds", "createdAt",
    "startedAt", "finishedAt",
}  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def deploy(
    client: httpx.AsyncClient, tenant: h.Tenant, app_id: str, **extra: Any
) -> httpx.Response:
    body = {"appId": app_id, **extra}
    return await client.post(f"{tenant.base}/deploy", json=body, headers=tenant.headers)


def fields_of(r: httpx.Response) -> set[str]:
    assert r.status_code == 422, r.text
    return {e["field"] for e in r.json()["errors"]}


async def test_trigger_shape(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], repo: Any, platform: Platform
) -> None:
    platform.wake.clear()
    r = await deploy(client, alpha, app_a["id"])
    assert r.status_code == 202, r.text
    dep = r.json()
    assert set(dep) == DEPLOYMENT_FIELDS
    assert dep["id"].startswith("dep_")
    assert dep["status"] == "queued"
    assert dep["appId"] == app_a["id"]
    assert dep["gitBranch"] == "main"
    assert dep["gitCommitSha"] == repo.main_sha
    assert dep["gitCommitMessage"] == "fix: second commit"
    assert dep["buildpack"] == "nixpacks"
    assert TIMESTAMP.match(dep["createdAt"])
    assert dep["startedAt"] is None and dep["durationSeconds"] is None
    assert platform.wake.is_set()
    r = await client.get(f"{alpha.base}/deploy/{dep['id']}", headers=alpha.headers)
    assert r.status_code == 200
    assert r.json() == dep


async def test_branch_and_sha_precedence(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], repo: Any
) -> None:
    app_url = f"{alpha.base}/apps/{app_a['id']}"
    r = await deploy(client, alpha, app_a["id"], gitBranch="feature")
    assert (r.json()["gitBranch"], r.json()["gitCommitSha"]) == ("feature", repo.feature_sha)
    assert (await client.get(app_url, headers=alpha.headers)).json()["gitBranch"] is None
    r = await deploy(client, alpha, app_a["id"])  # no branch anywhere: the repository's HEAD
    assert (r.json()["gitBranch"], r.json()["gitCommitSha"]) == ("main", repo.main_sha)
    assert (await client.get(app_url, headers=alpha.headers)).json()["gitBranch"] == "main"
    r = await deploy(client, alpha, app_a["id"], gitCommitSha=repo.first_sha[:7])
    assert r.status_code == 202
    assert r.json()["gitCommitSha"] == repo.first_sha
    assert r.json()["gitCommitMessage"] == "feat: first commit"
    assert r.json()["gitBranch"] == "main"
    r = await deploy(client, alpha, app_a["id"], gitBranch="feature", gitCommitSha=repo.first_sha)
    assert r.json()["gitCommitSha"] == repo.first_sha
    assert r.json()["gitBranch"] == "feature"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"gitBranch": "nope"}, "gitBranch"),
        ({"gitBranch": "../x"}, "gitBranch"),
        ({"gitCommitSha": "deadbeefdeadbeef"}, "gitCommitSha"),
        ({"gitCommitSha": "xyz"}, "gitCommitSha"),
        ({"gitCommitSha": 123}, "gitCommitSha"),
        ({"noTraffic": "yes"}, "noTraffic"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_trigger_rejects(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    extra: dict[str, Any],
    field: str,
) -> None:
    r = await deploy(client, alpha, app_a["id"], **extra)
    assert fields_of(r) == {field}
    listed = await client.get(f"{alpha.base}/deploy?appId={app_a['id']}", headers=alpha.headers)
    assert listed.json()["meta"]["total"] == 0


async def test_trigger_app_id_missing_or_unknown(
    client: httpx.AsyncClient, alpha: h.Tenant
) -> None:
    r = await client.post(f"{alpha.base}/deploy", json={}, headers=alpha.headers)
    assert fields_of(r) == {"appId"}
    r = await deploy(client, alpha, "app_01hx0000000000000000000000")
    assert r.status_code == 404
    assert (await deploy(client, alpha, "garbage")).status_code == 404


async def test_list_pagination_order_and_filter(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    ids = [(await deploy(client, alpha, app_a["id"])).json()["id"] for _ in range(5)]
    base = f"{alpha.base}/deploy?appId={app_a['id']}"
    r = await client.get(base, headers=alpha.headers)
    assert r.status_code == 200
    body = r.json()
    assert [d["id"] for d in body["data"]] == ids[::-1]
    assert body["meta"] == {"total": 5, "page": 1, "limit": 20, "totalPages": 1}
    for item in body["data"]:
        assert {"id", "status", "gitBranch", "gitCommitSha", "gitCommitMessage",
                "durationSeconds", "createdAt"} <= set(item)  # fmt: skip
    r = await client.get(f"{base}&limit=2&page=3", headers=alpha.headers)
    assert [d["id"] for d in r.json()["data"]] == [ids[0]]
    assert r.json()["meta"] == {"total": 5, "page": 3, "limit": 2, "totalPages": 3}
    r = await client.get(f"{base}&limit=2&page=4", headers=alpha.headers)
    assert r.json()["data"] == []
    await client.post(f"{alpha.base}/deploy/{ids[1]}/cancel", headers=alpha.headers)
    r = await client.get(f"{base}&status=cancelled", headers=alpha.headers)
    assert [d["id"] for d in r.json()["data"]] == [ids[1]]
    r = await client.get(f"{base}&status=queued", headers=alpha.headers)
    assert r.json()["meta"]["total"] == 4


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=0", {"limit"}),
        ("limit=101", {"limit"}),
        ("page=0", {"page"}),
        ("page=x", {"page"}),
        ("status=done", {"status"}),
        ("status=QUEUED", {"status"}),
    ],
)
async def test_list_rejects(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], query: str, fields: set[str]
) -> None:
    r = await client.get(f"{alpha.base}/deploy?appId={app_a['id']}&{query}", headers=alpha.headers)
    assert fields_of(r) == fields


async def test_list_needs_a_known_app(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    r = await client.get(f"{alpha.base}/deploy", headers=alpha.headers)
    assert fields_of(r) == {"appId"}
    r = await client.get(f"{alpha.base}/deploy?appId=app_x&limit=0", headers=alpha.headers)
    assert fields_of(r) == {"limit"}
    r = await client.get(f"{alpha.base}/deploy?appId=app_x", headers=alpha.headers)
    assert r.status_code == 404


async def test_logs_and_runtime_status_of_a_queued_deployment(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    dep = (await deploy(client, alpha, app_a["id"])).json()
    r = await client.get(f"{alpha.base}/deploy/{dep['id']}/logs", headers=alpha.headers)
    assert r.status_code == 200
    assert r.json() == {"logs": []}
    r = await client.get(f"{alpha.base}/deploy/{dep['id']}/runtime-status", headers=alpha.headers)
    assert r.status_code == 200
    status = r.json()
    assert set(status) == {"phase", "ready", "total", "conditions", "limits"}
    assert (status["phase"], status["ready"], status["total"]) == ("Pending", 0, 0)
    kinds = ["Available", "Progressing", "ContainerHealthy"]
    assert [c["type"] for c in status["conditions"]] == kinds
    for c in status["conditions"]:
        assert set(c) == {"type", "status", "reason", "message", "lastTransitionTime"}
        assert c["status"] in ("True", "False")
        assert TIMESTAMP.match(c["lastTransitionTime"])
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][1]["status"] == "True"


async def test_cancel(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], platform: Platform
) -> None:
    dep = (await deploy(client, alpha, app_a["id"])).json()
    platform.wake.clear()
    url = f"{alpha.base}/deploy/{dep['id']}/cancel"
    r = await client.post(url, headers=alpha.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert TIMESTAMP.match(r.json()["finishedAt"])
    assert platform.wake.is_set()
    r = await client.post(url, headers=alpha.headers)
    assert r.status_code == 409
    assert r.json()["detail"] == f"deployment {dep['id']} already finished (cancelled)"
    r = await client.get(f"{alpha.base}/deploy/{dep['id']}/runtime-status", headers=alpha.headers)
    assert r.json()["phase"] == "Stopped"
