"""`/workspaces/{wsId}/apps`: shapes, rules (422 naming each field) and pagination."""

from __future__ import annotations

import re
from typing import Any

import api_helpers as h
import httpx
import pytest

from slipway.domain.giturls import NO_LOCAL, LocalRepos
from slipway.services.platform import Platform

APP_FIELDS = {
    "id", "name", "gitUrl", "gitBranch", "rootDirectory", "buildpack", "startCommand",
    "buildCommand", "installCommand", "releaseCommand", "healthCheckPath", "env",
    "minReplicas", "maxReplicas", "replicas", "memoryMb", "targetConcurrency", "httpsOnly", "url",
    "createdAt", "updatedAt",
}  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def fields_of(r: httpx.Response) -> set[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in r.json()["errors"]}


async def test_create_shape_and_defaults(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    assert set(app_a) == APP_FIELDS
    assert app_a["id"].startswith("app_")
    assert app_a["gitBranch"] is None  # the repository's HEAD, learnt on the first deploy
    assert app_a["buildpack"] == "nixpacks"
    assert app_a["replicas"] == 1
    assert app_a["minReplicas"] == 0
    assert app_a["maxReplicas"] is None
    assert app_a["targetConcurrency"] == 10
    assert app_a["env"] == {}
    assert app_a["url"] == "http://my-api.alpha.localhost:8080"
    assert TIMESTAMP.match(app_a["createdAt"])
    assert TIMESTAMP.match(app_a["updatedAt"])
    r = await client.get(f"{alpha.base}/apps/{app_a['id']}", headers=alpha.headers)
    assert r.status_code == 200
    assert r.json() == app_a


async def test_create_with_every_field(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    body = {
        "name": "full",
        "gitUrl": "https://github.com/acme/app.git",
        "gitBranch": "release/v2",
        "rootDirectory": "services/api",
        "buildpack": "nixpacks",
        "startCommand": "node server.js",
        "buildCommand": "npm run build",
        "installCommand": "npm ci",
        "releaseCommand": "npm run migrate",
        "healthCheckPath": "/healthz",
        "env": {"GREETING": "hi", "_X1": ""},
        "minReplicas": 1,
        "maxReplicas": 3,
        "replicas": 2,
        "memoryMb": 256,
        "targetConcurrency": 25,
    }
    r = await client.post(f"{alpha.base}/apps", json=body, headers=alpha.headers)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in body} == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "My_App"}, "name"),
        ({"name": "a--b"}, "name"),
        ({"name": "a" * 41}, "name"),
        ({"name": "1abc"}, "name"),
        ({"gitUrl": "ftp://example.com/x"}, "gitUrl"),
        ({"gitUrl": "--upload-pack=evil"}, "gitUrl"),
        ({"gitBranch": "a..b"}, "gitBranch"),
        ({"rootDirectory": "../up"}, "rootDirectory"),
        ({"rootDirectory": "/abs"}, "rootDirectory"),
        ({"buildpack": "heroku"}, "buildpack"),
        ({"healthCheckPath": "health"}, "healthCheckPath"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"env": {"OK": 1}}, "env.OK"),
        ({"env": ["A=1"]}, "env"),
        ({"env": "A=1"}, "env"),
        ({"replicas": 11}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"replicas": "3"}, "replicas"),
        ({"replicas": 1.5}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"minReplicas": 11}, "minReplicas"),
        ({"memoryMb": 127}, "memoryMb"),
        ({"memoryMb": 8193}, "memoryMb"),
        ({"memoryMb": "512"}, "memoryMb"),
        ({"memoryMb": 512.5}, "memoryMb"),
        ({"memoryMb": True}, "memoryMb"),
        ({"targetConcurrency": 0}, "targetConcurrency"),
        ({"targetConcurrency": 1001}, "targetConcurrency"),
        ({"targetConcurrency": "10"}, "targetConcurrency"),
        ({"minReplicas": 3, "maxReplicas": 2}, "maxReplicas"),
        ({"name": None}, "name"),
        ({"unknown": 1}, "unknown"),
        ({"git_url": "https://e.com/x"}, "git_url"),
    ],
)
async def test_create_rejects_bad_fields(
    client: httpx.AsyncClient, alpha: h.Tenant, body: dict[str, Any], field: str
) -> None:
    full = {"name": "ok", "gitUrl": "https://example.com/r.git", **body}
    r = await client.post(f"{alpha.base}/apps", json=full, headers=alpha.headers)
    assert field in fields_of(r)
    listed = await client.get(f"{alpha.base}/apps", headers=alpha.headers)
    assert listed.json()["meta"]["total"] == 0


async def test_missing_required_fields_are_all_named(
    client: httpx.AsyncClient, alpha: h.Tenant
) -> None:
    r = await client.post(f"{alpha.base}/apps", json={}, headers=alpha.headers)
    assert fields_of(r) == {"name", "gitUrl"}


async def test_every_bad_field_is_listed(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    body = {"name": "Bad", "gitUrl": "nope", "replicas": 12, "healthCheckPath": "x"}
    r = await client.post(f"{alpha.base}/apps", json=body, headers=alpha.headers)
    assert fields_of(r) == {"name", "gitUrl", "replicas", "healthCheckPath"}


async def test_local_git_url_only_where_allowed(
    client: httpx.AsyncClient, alpha: h.Tenant, platform: Platform
) -> None:
    from dataclasses import replace

    platform.settings = replace(platform.settings, local_git=NO_LOCAL)
    body = {"name": "local", "gitUrl": "/srv/repo"}
    r = await client.post(f"{alpha.base}/apps", json=body, headers=alpha.headers)
    assert fields_of(r) == {"gitUrl"}
    assert "not allowed on this server" in r.text


async def test_local_git_url_never_inside_the_data_directory(
    client: httpx.AsyncClient, alpha: h.Tenant, platform: Platform
) -> None:
    from dataclasses import replace

    local = LocalRepos(roots=("/srv",), forbidden=("/srv/slipway",))
    platform.settings = replace(platform.settings, local_git=local)
    for url in ("/srv/slipway/git/app_01x.git", "file:///srv/slipway", "/etc/x"):
        r = await client.post(
            f"{alpha.base}/apps", json={"name": "local", "gitUrl": url}, headers=alpha.headers
        )
        assert fields_of(r) == {"gitUrl"}, url
    ok = {"name": "local", "gitUrl": "/srv/repos/site"}
    assert (await client.post(f"{alpha.base}/apps", json=ok, headers=alpha.headers)).is_success


async def test_duplicate_name_is_409(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], beta: h.Tenant
) -> None:
    body = {"name": app_a["name"], "gitUrl": app_a["gitUrl"]}
    r = await client.post(f"{alpha.base}/apps", json=body, headers=alpha.headers)
    assert r.status_code == 409
    r = await client.post(f"{beta.base}/apps", json=body, headers=beta.headers)
    assert r.status_code == 201


async def test_patch_changes_only_given_fields(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    url = f"{alpha.base}/apps/{app_a['id']}"
    r = await client.patch(url, json={"env": {"A": "1"}, "replicas": 3}, headers=alpha.headers)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["env"] == {"A": "1"}
    assert after["replicas"] == 3
    unchanged = {k: v for k, v in app_a.items() if k not in ("env", "replicas", "updatedAt")}
    assert {k: after[k] for k in unchanged} == unchanged
    r = await client.patch(url, json={"healthCheckPath": "/up"}, headers=alpha.headers)
    assert r.json()["env"] == {"A": "1"}
    r = await client.patch(url, json={"healthCheckPath": None}, headers=alpha.headers)
    assert r.json()["healthCheckPath"] is None


async def test_rejected_patch_changes_nothing(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    url = f"{alpha.base}/apps/{app_a['id']}"
    for body in (
        {"replicas": 3, "minReplicas": 11},
        {"maxReplicas": 0, "minReplicas": 1},
        {"replicas": 2, "name": "renamed"},
        {"replicas": 2, "gitBranch": "a..b"},
        {"replicas": 2, "env": {"A": None}},
    ):
        r = await client.patch(url, json=body, headers=alpha.headers)
        assert r.status_code == 422, (body, r.text)
    assert (await client.get(url, headers=alpha.headers)).json() == app_a


async def test_max_replicas_checked_against_stored_min(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    url = f"{alpha.base}/apps/{app_a['id']}"
    assert (await client.patch(url, json={"minReplicas": 2}, headers=alpha.headers)).is_success
    r = await client.patch(url, json={"maxReplicas": 1}, headers=alpha.headers)
    assert fields_of(r) == {"maxReplicas"}


async def test_list_pagination(client: httpx.AsyncClient, alpha: h.Tenant, repo: Any) -> None:
    for i in range(5):
        await h.create_app_via_api(client, alpha, repo.url, name=f"app-{i}")
    r = await client.get(f"{alpha.base}/apps?limit=2&page=3", headers=alpha.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["meta"] == {"total": 5, "page": 3, "limit": 2, "totalPages": 3}
    assert len(body["data"]) == 1
    assert set(body["data"][0]) == APP_FIELDS
    for far in ("9", "99999999999999999999999"):
        r = await client.get(f"{alpha.base}/apps?page={far}", headers=alpha.headers)
        assert r.status_code == 200
        assert r.json()["data"] == []
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("page=0", "page")):
        r = await client.get(f"{alpha.base}/apps?{query}", headers=alpha.headers)
        assert fields_of(r) == {field}


async def test_delete_stops_and_removes(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, Any], platform: Platform
) -> None:
    url = f"{alpha.base}/apps/{app_a['id']}"
    dep = (
        await client.post(
            f"{alpha.base}/deploy", json={"appId": app_a["id"]}, headers=alpha.headers
        )
    ).json()
    r = await client.delete(url, headers=alpha.headers)
    assert r.status_code == 200
    assert r.json() == {"id": app_a["id"], "deleted": True}
    assert platform.router.removed == [app_a["id"]]  # type: ignore[attr-defined]
    assert (await client.get(url, headers=alpha.headers)).status_code == 404
    r = await client.get(f"{alpha.base}/deploy/{dep['id']}", headers=alpha.headers)
    assert r.status_code == 404
    assert (await client.delete(url, headers=alpha.headers)).status_code == 404
