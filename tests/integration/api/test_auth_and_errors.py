"""Authentication, workspace isolation and the problem+json conventions."""

from __future__ import annotations

from typing import Any

import api_helpers as h
import httpx
import pytest

from slipway.services.resources import keys

MALFORMED = [
    "Bearer nope",
    "Bearer dor_sk_short",
    "Basic dor_sk_" + "a" * 36,
    "dor_sk_" + "a" * 36,
    "Bearer " + keys.generate_key()[:-1] + "!",
]


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


async def test_healthz_needs_no_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/workspaces/{wsId}/deploy/{deployId}/runtime-status" in spec["paths"]
    assert (await client.get("/api/v1/docs")).status_code == 200


async def test_missing_key_is_401(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    r = await client.get(f"{alpha.base}/apps")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "value", MALFORMED, ids=["word", "short", "basic", "no-scheme", "bad-char"]
)
async def test_malformed_key_is_401(client: httpx.AsyncClient, alpha: h.Tenant, value: str) -> None:
    r = await client.get(f"{alpha.base}/apps", headers={"Authorization": value})
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert value.split()[-1] not in body["detail"]


async def test_well_formed_unknown_key_is_401(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    headers = {"Authorization": f"Bearer {keys.generate_key()}"}
    assert_problem(await client.get(f"{alpha.base}/apps", headers=headers), 401)


async def test_revoked_key_is_401_on_next_request(
    client: httpx.AsyncClient, alpha: h.Tenant
) -> None:
    r = await client.post(f"{alpha.base}/api-keys", json={"name": "ci"}, headers=alpha.headers)
    created = r.json()
    ci = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get(f"{alpha.base}/apps", headers=ci)).status_code == 200
    r = await client.delete(f"{alpha.base}/api-keys/{created['id']}", headers=alpha.headers)
    assert r.status_code == 200
    assert_problem(await client.get(f"{alpha.base}/apps", headers=ci), 401)
    assert (await client.get(f"{alpha.base}/apps", headers=alpha.headers)).status_code == 200


async def test_key_on_another_workspace_path_is_404(
    client: httpx.AsyncClient, alpha: h.Tenant, beta: h.Tenant
) -> None:
    for path in ("/apps", "/api-keys", "/deploy?appId=app_x"):
        r = await client.get(f"{beta.base}{path}", headers=alpha.headers)
        assert_problem(r, 404)
    r = await client.post(
        f"{beta.base}/apps", json={"name": "x", "gitUrl": "https://e.com/r"}, headers=alpha.headers
    )
    assert_problem(r, 404)
    r = await client.get("/api/v1/workspaces/ws_nope/apps", headers=alpha.headers)
    assert_problem(r, 404)


async def test_ids_of_another_workspace_are_404(
    client: httpx.AsyncClient, alpha: h.Tenant, beta: h.Tenant, repo: Any
) -> None:
    app_b = await h.create_app_via_api(client, beta, repo.url, name="bee")
    dep_b = (
        await client.post(f"{beta.base}/deploy", json={"appId": app_b["id"]}, headers=beta.headers)
    ).json()
    key_b = (await client.get(f"{beta.base}/api-keys", headers=beta.headers)).json()[0]
    a, hd = alpha.base, alpha.headers
    attempts = [
        ("GET", f"{a}/apps/{app_b['id']}", None),
        ("PATCH", f"{a}/apps/{app_b['id']}", {"replicas": 2}),
        ("DELETE", f"{a}/apps/{app_b['id']}", None),
        ("DELETE", f"{a}/api-keys/{key_b['id']}", None),
        ("POST", f"{a}/deploy", {"appId": app_b["id"]}),
        ("GET", f"{a}/deploy?appId={app_b['id']}", None),
        ("GET", f"{a}/deploy/{dep_b['id']}", None),
        ("GET", f"{a}/deploy/{dep_b['id']}/logs", None),
        ("GET", f"{a}/deploy/{dep_b['id']}/runtime-status", None),
        ("POST", f"{a}/deploy/{dep_b['id']}/cancel", None),
    ]
    for method, url, body in attempts:
        r = await client.request(method, url, json=body, headers=hd)
        assert_problem(r, 404)
        assert app_b["id"] not in r.text or "not found" in r.text
    # nothing of B changed
    r = await client.get(f"{beta.base}/apps/{app_b['id']}", headers=beta.headers)
    assert r.json()["replicas"] == 1
    r = await client.get(f"{beta.base}/deploy/{dep_b['id']}", headers=beta.headers)
    assert r.json()["status"] == "queued"
    assert len((await client.get(f"{beta.base}/api-keys", headers=beta.headers)).json()) == 1


@pytest.mark.parametrize(
    "path",
    ["/apps/nope", "/apps/app_NOTANID", "/deploy/nope", "/deploy/dep_bad", "/deploy/dep_bad/logs"],
)
async def test_malformed_ids_are_404(client: httpx.AsyncClient, alpha: h.Tenant, path: str) -> None:
    assert_problem(await client.get(f"{alpha.base}{path}", headers=alpha.headers), 404)


async def test_malformed_key_id_is_404(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    r = await client.delete(f"{alpha.base}/api-keys/../x", headers=alpha.headers)
    assert r.status_code == 404
    assert_problem(await client.delete(f"{alpha.base}/api-keys/key_x", headers=alpha.headers), 404)


async def test_unknown_route_and_method(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    assert_problem(await client.get("/api/v1/nothing"), 404)
    r = await client.put(f"{alpha.base}/apps", headers=alpha.headers)
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]
    r = await client.get(f"{alpha.base}/deploy/scale", headers=alpha.headers)
    assert r.status_code in (404, 405)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'"text"', b"42", b"null", b""],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, alpha: h.Tenant, content: bytes
) -> None:
    headers = {**alpha.headers, "Content-Type": "application/json"}
    for path in ("/apps", "/deploy", "/api-keys"):
        r = await client.post(f"{alpha.base}{path}", content=content, headers=headers)
        assert_problem(r, 400)
