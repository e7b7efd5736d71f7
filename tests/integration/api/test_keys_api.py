"""`/workspaces/{wsId}/api-keys`."""

from __future__ import annotations

import asyncio
import re

import api_helpers as h
import httpx

from slipway.services.resources import keys

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def test_create_list_revoke(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    r = await client.post(f"{alpha.base}/api-keys", json={"name": "ci"}, headers=alpha.headers)
    assert r.status_code == 201
    created = r.json()
    assert set(created) == {"id", "name", "key", "createdAt"}
    assert created["name"] == "ci"
    assert keys.is_well_formed(created["key"])
    assert TIMESTAMP.match(created["createdAt"])

    r = await client.get(f"{alpha.base}/api-keys", headers=alpha.headers)
    assert r.status_code == 200
    listed = {k["name"]: k for k in r.json()}
    assert set(listed) == {"default", "ci"}
    ci = listed["ci"]
    assert set(ci) == {"id", "name", "prefix", "createdAt", "lastUsedAt"}
    assert created["key"].startswith(ci["prefix"])
    assert ci["lastUsedAt"] is None
    assert TIMESTAMP.match(listed["default"]["lastUsedAt"])
    assert created["key"] not in r.text

    r = await client.delete(f"{alpha.base}/api-keys/{created['id']}", headers=alpha.headers)
    assert r.status_code == 200
    r = await client.delete(f"{alpha.base}/api-keys/{created['id']}", headers=alpha.headers)
    assert r.status_code == 404
    names = [
        k["name"]
        for k in (await client.get(f"{alpha.base}/api-keys", headers=alpha.headers)).json()
    ]
    assert names == ["default"]


async def test_bad_key_names_are_422(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    for body in ({"name": ""}, {"name": "x" * 65}, {"name": 3}, {}, {"name": "a\nb"}):
        r = await client.post(f"{alpha.base}/api-keys", json=body, headers=alpha.headers)
        assert r.status_code == 422, body
        assert [e["field"] for e in r.json()["errors"]] == ["name"]
    assert len((await client.get(f"{alpha.base}/api-keys", headers=alpha.headers)).json()) == 1


async def test_the_last_key_cannot_be_revoked(client: httpx.AsyncClient, alpha: h.Tenant) -> None:
    """A workspace that revoked every key could never get one again through the API."""
    own = (await client.get(f"{alpha.base}/api-keys", headers=alpha.headers)).json()
    assert len(own) == 1
    r = await client.delete(f"{alpha.base}/api-keys/{own[0]['id']}", headers=alpha.headers)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "last API key" in r.json()["detail"]
    assert (await client.get(f"{alpha.base}/apps", headers=alpha.headers)).status_code == 200


async def test_two_keys_revoking_each_other_at_once_leave_one(
    client: httpx.AsyncClient, alpha: h.Tenant
) -> None:
    r = await client.post(f"{alpha.base}/api-keys", json={"name": "ci"}, headers=alpha.headers)
    ci = r.json()
    default = next(
        k
        for k in (await client.get(f"{alpha.base}/api-keys", headers=alpha.headers)).json()
        if k["name"] == "default"
    )
    ci_headers = {"Authorization": f"Bearer {ci['key']}"}
    answers = await asyncio.gather(
        client.delete(f"{alpha.base}/api-keys/{ci['id']}", headers=alpha.headers),
        client.delete(f"{alpha.base}/api-keys/{default['id']}", headers=ci_headers),
    )
    assert sorted(a.status_code for a in answers) in ([200, 409], [200, 401]), answers
    left = [
        (await client.get(f"{alpha.base}/api-keys", headers=h)).status_code
        for h in (alpha.headers, ci_headers)
    ]
    assert sorted(left) == [200, 401]  # exactly one key still works
