"""`/workspaces/{wsId}/api-keys`."""

from __future__ import annotations

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
