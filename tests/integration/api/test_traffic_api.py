"""List Revisions, Set Traffic, Promote, Scale and Rollback over HTTP, with a real SQLite
store; replicas are simulated (`tests/support/fakes.FakeRuntime`). Every bad request must
be a clear problem and change nothing: neither the stored traffic nor the router's table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import api_helpers as h
import httpx
import pytest
from tests.support.fakes import FakeRouter, FakeRuntime, ImageShelf
from tests.support.seeds import seed_revision

from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.domain.states import DeploymentStatus
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def shelf() -> ImageShelf:
    return ImageShelf()


@pytest.fixture
def router() -> FakeRouter:
    return FakeRouter()


@pytest.fixture
async def platform(
    store: SqlStore,
    tmp_path: Path,
    runtime: FakeRuntime,
    shelf: ImageShelf,
    router: FakeRouter,
) -> AsyncIterator[Platform]:
    p = Platform(
        store=store,
        source=GitSource(tmp_path / "git-cache", local=LocalRepos(anywhere=True)),
        builder=shelf,
        runtime=runtime,
        router=router,
        settings=Settings(local_git=LocalRepos(anywhere=True), drain_seconds=0.1),
    )
    yield p
    await p.close()


@pytest.fixture
async def revs(
    store: SqlStore, shelf: ImageShelf, alpha: h.Tenant, app_a: dict[str, Any]
) -> list[Any]:
    """Three revisions of my-api: 00001 and 00002 succeeded, 00003 failed."""
    out = []
    for status in (DeploymentStatus.SUCCEEDED, DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED):
        out.append(
            await seed_revision(
                store, shelf, workspace_id=alpha.id, app_id=str(app_a["id"]), status=status
            )
        )
    return out


def traffic_url(tenant: h.Tenant, app: dict[str, Any]) -> str:
    return f"{tenant.base}/deploy/apps/{app['id']}/traffic"


async def set_traffic(
    client: httpx.AsyncClient, tenant: h.Tenant, app: dict[str, Any], splits: Any
) -> httpx.Response:
    return await client.post(
        traffic_url(tenant, app), json={"splits": splits}, headers=tenant.headers
    )


async def listed(
    client: httpx.AsyncClient, tenant: h.Tenant, app: dict[str, Any]
) -> list[dict[str, Any]]:
    r = await client.get(f"{tenant.base}/deploy/apps/{app['id']}/revisions", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return list(r.json())


CANARY = [
    {"revisionName": "my-api-00002", "percent": 10, "tag": "canary"},
    {"revisionName": "my-api-00001", "percent": 90, "tag": "stable"},
]


async def test_set_traffic_answers_as_the_spec_and_routes_by_weight_and_tag(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    router: FakeRouter,
) -> None:
    r = await set_traffic(client, alpha, app_a, CANARY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["appId"] == app_a["id"]
    assert body["splits"] == CANARY
    assert body["updatedAt"].endswith("Z")
    routes = {route.host: route for route in router.routes[str(app_a["id"])]}
    main = routes["my-api.alpha.localhost"]
    assert [(x.revision.rsplit("/", 1)[1], x.weight) for x in main.targets] == [
        ("my-api-00002", 10),
        ("my-api-00001", 90),
    ]
    assert all(x.backends for x in main.targets)  # both revisions were started first
    assert set(routes) == {
        "my-api.alpha.localhost",
        "canary---my-api.alpha.localhost",
        "stable---my-api.alpha.localhost",
    }

    revisions = await listed(client, alpha, app_a)
    assert [x["revisionName"] for x in revisions] == [
        "my-api-00003",
        "my-api-00002",
        "my-api-00001",
    ]
    newest, canary, stable = revisions
    assert canary["trafficPercent"] == 10 and canary["tag"] == "canary"
    assert canary["url"] == "http://canary---my-api.alpha.localhost:8080"
    assert canary["deploymentId"] == revs[1][0].id
    assert (canary["ready"], canary["total"]) == (1, 1)
    assert stable["trafficPercent"] == 90
    assert newest["trafficPercent"] == 0 and newest["tag"] is None and newest["url"] is None
    assert set(newest) >= {"revisionName", "imageRef", "trafficPercent", "createdAt"}


BAD_SPLITS = [
    ([{"revisionName": "my-api-00001", "percent": 99}], "splits"),
    (
        [
            {"revisionName": "my-api-00001", "percent": 50},
            {"revisionName": "my-api-00002", "percent": 51},
        ],
        "splits",
    ),
    (
        [
            {"revisionName": "my-api-00001", "percent": 101},
            {"revisionName": "my-api-00002", "percent": -1},
        ],
        "splits[0].percent",
    ),
    (
        [
            {"revisionName": "my-api-00001", "percent": 50.5},
            {"revisionName": "my-api-00002", "percent": 49.5},
        ],
        "splits.0.percent",
    ),
    ([{"revisionName": "my-api-00001", "percent": "100"}], "splits.0.percent"),
    ([{"revisionName": "my-api-00009", "percent": 100}], "splits[0].revisionName"),
    ([{"revisionName": "other-00001", "percent": 100}], "splits[0].revisionName"),
    ([{"revisionName": "my-api-00003", "percent": 100}], "splits[0].revisionName"),
    (
        [
            {"revisionName": "my-api-00001", "percent": 50},
            {"revisionName": "my-api-00001", "percent": 50},
        ],
        "splits[1].revisionName",
    ),
    (
        [
            {"revisionName": "my-api-00001", "percent": 50, "tag": "a"},
            {"revisionName": "my-api-00002", "percent": 50, "tag": "a"},
        ],
        "splits[1].tag",
    ),
    ([{"revisionName": "my-api-00001", "percent": 100, "tag": "Not_A_Label"}], "splits[0].tag"),
    ([{"revisionName": "my-api-00001", "percent": 100, "tag": "a--b"}], "splits[0].tag"),
    ([{"revisionName": "my-api-00001", "percent": 100, "extra": 1}], "splits.0.extra"),
    ([], "splits"),
    ("nope", "splits"),
]


@pytest.mark.parametrize(("splits", "field"), BAD_SPLITS)
async def test_bad_traffic_is_a_422_that_changes_nothing(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    router: FakeRouter,
    splits: Any,
    field: str,
) -> None:
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00001", "percent": 100}])
    before_routes, before = dict(router.routes), await listed(client, alpha, app_a)
    r = await set_traffic(client, alpha, app_a, splits)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert await listed(client, alpha, app_a) == before
    assert router.routes == before_routes


async def test_revisions_of_another_app_or_workspace_are_unknown(
    client: httpx.AsyncClient,
    store: SqlStore,
    shelf: ImageShelf,
    alpha: h.Tenant,
    beta: h.Tenant,
    app_a: dict[str, Any],
    repo: Any,
    revs: list[Any],
) -> None:
    other = await h.create_app_via_api(client, alpha, repo.url, name="other")
    await seed_revision(store, shelf, workspace_id=alpha.id, app_id=other["id"])
    r = await set_traffic(client, alpha, app_a, [{"revisionName": "other-00001", "percent": 100}])
    assert r.status_code == 422
    assert "not a revision of this app" in r.json()["detail"]
    # Another workspace's key sees neither the app nor the revision.
    r = await set_traffic(client, beta, app_a, [{"revisionName": "my-api-00001", "percent": 100}])
    assert r.status_code == 404
    r = await client.post(
        f"{beta.base}/deploy/revisions/my-api-00001/promote", headers=beta.headers
    )
    assert r.status_code == 404
    r = await client.get(f"{beta.base}/deploy/apps/{app_a['id']}/revisions", headers=beta.headers)
    assert r.status_code == 404


async def test_a_revision_that_cannot_start_leaves_traffic_unchanged(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    runtime: FakeRuntime,
    router: FakeRouter,
) -> None:
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00001", "percent": 100}])
    before_routes, before = dict(router.routes), await listed(client, alpha, app_a)
    runtime.broken.add("my-api-00002")
    r = await set_traffic(client, alpha, app_a, CANARY)
    assert r.status_code == 409, r.text
    assert "my-api-00002 could not start" in r.json()["detail"]
    assert await listed(client, alpha, app_a) == before
    assert router.routes == before_routes
    assert ("stop", "my-api-00002", 0) in runtime.calls  # the replicas it started are gone


async def test_promote_takes_all_traffic_and_drops_tags(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    runtime: FakeRuntime,
) -> None:
    await set_traffic(client, alpha, app_a, CANARY)
    r = await client.post(
        f"{alpha.base}/deploy/revisions/my-api-00002/promote", headers=alpha.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["promotedRevision"] == "my-api-00002"
    assert body["splits"] == [{"revisionName": "my-api-00002", "percent": 100}]
    assert body["appId"] == app_a["id"]
    revisions = {x["revisionName"]: x for x in await listed(client, alpha, app_a)}
    assert revisions["my-api-00002"]["trafficPercent"] == 100
    assert (
        revisions["my-api-00001"]["tag"] is None
        and revisions["my-api-00001"]["trafficPercent"] == 0
    )
    for _ in range(100):  # my-api-00001 lost its traffic: drained, then stopped
        if ("stop", "my-api-00001", 0) in runtime.calls:
            break
        await asyncio.sleep(0.02)
    assert ("stop", "my-api-00001", 0) in runtime.calls


@pytest.mark.parametrize(
    ("name", "status"),
    [("my-api-00003", 409), ("my-api-00009", 404), ("nope", 404), ("x-00001", 404)],
)
async def test_promote_refuses(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    name: str,
    status: int,
) -> None:
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00001", "percent": 100}])
    before = await listed(client, alpha, app_a)
    r = await client.post(f"{alpha.base}/deploy/revisions/{name}/promote", headers=alpha.headers)
    assert r.status_code == status, r.text
    assert r.json()["status"] == status
    assert await listed(client, alpha, app_a) == before


async def test_scale_shares_replicas_and_reports_progress(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    runtime: FakeRuntime,
) -> None:
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00001", "percent": 100}])
    r = await client.post(
        f"{alpha.base}/deploy/scale",
        json={"appId": app_a["id"], "replicas": 3},
        headers=alpha.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "appId": app_a["id"],
        "name": "my-api",
        "requestedReplicas": 3,
        "currentReplicas": 3,
        "status": "running",
    }
    assert ("scale", "my-api-00001", 3) in runtime.calls
    app = (await client.get(f"{alpha.base}/apps/{app_a['id']}", headers=alpha.headers)).json()
    assert app["replicas"] == 3
    r = await set_traffic(client, alpha, app_a, CANARY)
    assert {x["revisionName"]: x["total"] for x in await listed(client, alpha, app_a)} == {
        "my-api-00001": 2,
        "my-api-00002": 1,
        "my-api-00003": 0,
    }
    r = await client.post(
        f"{alpha.base}/deploy/scale",
        json={"appId": app_a["id"], "replicas": 0},
        headers=alpha.headers,
    )
    assert r.json()["requestedReplicas"] == 0
    assert r.json()["status"] in {"scaling", "stopped"}
    for _ in range(100):
        if not runtime.counts:
            break
        await asyncio.sleep(0.02)
    assert runtime.counts == {}
    r = await client.post(
        f"{alpha.base}/deploy/scale",
        json={"appId": app_a["id"], "replicas": 0},
        headers=alpha.headers,
    )
    assert (r.json()["status"], r.json()["currentReplicas"]) == ("stopped", 0)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"replicas": -1}, 422, "replicas"),
        ({"replicas": 11}, 422, "replicas"),
        ({"replicas": 1.5}, 422, "replicas"),
        ({"replicas": "3"}, 422, "replicas"),
        ({"replicas": True}, 422, "replicas"),
        ({}, 422, "replicas"),
        ({"replicas": 2, "appId": None}, 422, "appId"),
        ({"replicas": 2, "appId": "app_01hx0000000000000000000000"}, 404, None),
    ],
)
async def test_scale_refuses(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    payload = {"appId": app_a["id"], **body}
    r = await client.post(f"{alpha.base}/deploy/scale", json=payload, headers=alpha.headers)
    assert r.status_code == status, r.text
    if field:
        assert field in {e["field"] for e in r.json()["errors"]}
    app = (await client.get(f"{alpha.base}/apps/{app_a['id']}", headers=alpha.headers)).json()
    assert app["replicas"] == 1


async def wait_status(client: httpx.AsyncClient, tenant: h.Tenant, dep_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = (await client.get(f"{tenant.base}/deploy/{dep_id}", headers=tenant.headers)).json()
        if body["status"] in {"succeeded", "failed", "cancelled"}:
            return dict(body)
        await asyncio.sleep(0.02)
    raise AssertionError(f"still {body['status']}")


async def test_rollback_redeploys_the_old_image_with_its_release_command(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    runtime: FakeRuntime,
) -> None:
    await client.patch(
        f"{alpha.base}/apps/{app_a['id']}",
        json={"releaseCommand": "python3 migrate.py"},
        headers=alpha.headers,
    )
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00002", "percent": 100}])
    target = revs[0][0]
    r = await client.post(f"{alpha.base}/deploy/{target.id}/rollback", headers=alpha.headers)
    assert r.status_code == 202, r.text
    dep = r.json()
    assert dep["status"] == "deploying"
    assert dep["rolledBackFrom"] == target.id
    assert dep["gitCommitSha"] == target.git_commit_sha
    assert dep["gitCommitMessage"] == target.git_commit_message
    assert dep["imageRef"] == target.image_ref
    done = await wait_status(client, alpha, dep["id"])
    assert done["status"] == "succeeded", done
    assert done["revisionName"] == "my-api-00004"
    assert runtime.released == [("my-api-00004", "python3 migrate.py")]
    revisions = {x["revisionName"]: x for x in await listed(client, alpha, app_a)}
    assert revisions["my-api-00004"]["trafficPercent"] == 100
    assert revisions["my-api-00004"]["imageRef"] == revisions["my-api-00001"]["imageRef"]
    logs = (
        await client.get(f"{alpha.base}/deploy/{dep['id']}/logs", headers=alpha.headers)
    ).json()["logs"]
    assert "ran python3 migrate.py" in logs


async def test_a_failing_release_command_fails_the_rollback_and_keeps_traffic(
    client: httpx.AsyncClient,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
    runtime: FakeRuntime,
) -> None:
    await client.patch(
        f"{alpha.base}/apps/{app_a['id']}", json={"releaseCommand": "exit 3"}, headers=alpha.headers
    )
    await set_traffic(client, alpha, app_a, [{"revisionName": "my-api-00002", "percent": 100}])
    runtime.release_status = 3
    r = await client.post(f"{alpha.base}/deploy/{revs[0][0].id}/rollback", headers=alpha.headers)
    done = await wait_status(client, alpha, r.json()["id"])
    assert done["status"] == "failed"
    assert done["error"] == "the release command exited with status 3."
    assert not any(c == ("scale", "my-api-00004", 1) for c in runtime.calls)  # never started
    revisions = {x["revisionName"]: x["trafficPercent"] for x in await listed(client, alpha, app_a)}
    assert revisions["my-api-00002"] == 100 and revisions["my-api-00004"] == 0


async def test_rollback_refuses(
    client: httpx.AsyncClient,
    store: SqlStore,
    shelf: ImageShelf,
    alpha: h.Tenant,
    beta: h.Tenant,
    app_a: dict[str, Any],
    revs: list[Any],
) -> None:
    failed = revs[2][0]
    gone, _ = await seed_revision(
        store, shelf, workspace_id=alpha.id, app_id=str(app_a["id"]), on_disk=False
    )
    cases = [
        (alpha, failed.id, 409, "failed"),
        (alpha, gone.id, 409, "no longer on disk"),
        (beta, revs[0][0].id, 404, "not found"),
        (alpha, "dep_01hx0000000000000000000000", 404, "not found"),
    ]
    for tenant, dep_id, status, words in cases:
        r = await client.post(f"{tenant.base}/deploy/{dep_id}/rollback", headers=tenant.headers)
        assert r.status_code == status, r.text
        assert words in r.json()["detail"]
    r = await client.get(f"{alpha.base}/deploy?appId={app_a['id']}", headers=alpha.headers)
    assert r.json()["meta"]["total"] == 4  # no deployment was created
