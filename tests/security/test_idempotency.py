"""Idempotency-Key on POST (CONTRACT §2): the same key and body within 24 h answer the first
answer again and create nothing; another body is 422; keys are per workspace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.security.tenants import Tenant

from slipway.domain.errors import Conflict
from slipway.domain.models import IdempotencyRecord, utcnow
from slipway.services.resources import idempotency
from slipway.store import SqlStore


async def _app_names(client: httpx.AsyncClient, t: Tenant) -> list[str]:
    r = await client.get(f"{t.base}/apps", headers=t.headers)
    return sorted(a["name"] for a in r.json()["data"])


async def test_a_repeat_gets_the_first_answer_and_creates_nothing(
    client: httpx.AsyncClient, alpha: Tenant, git_url: str
) -> None:
    headers = {**alpha.headers, "Idempotency-Key": "create-web-1"}
    body = {"name": "web", "gitUrl": git_url}
    first = await client.post(f"{alpha.base}/apps", json=body, headers=headers)
    again = await client.post(f"{alpha.base}/apps", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _app_names(client, alpha) == ["alpha-app", "web"]


async def test_a_deploy_is_queued_once(client: httpx.AsyncClient, alpha: Tenant) -> None:
    headers = {**alpha.headers, "Idempotency-Key": "deploy-1"}
    body = {"appId": alpha.app_id}
    answers = [await client.post(f"{alpha.base}/deploy", json=body, headers=headers)
               for _ in range(3)]  # fmt: skip
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["id"] for r in answers}) == 1
    listed = await client.get(f"{alpha.base}/deploy", params={"appId": alpha.app_id},
                              headers=alpha.headers)  # fmt: skip
    assert listed.json()["meta"]["total"] == 3  # the two seeded ones and this one


async def test_another_body_with_the_same_key_is_422(
    client: httpx.AsyncClient, alpha: Tenant, git_url: str
) -> None:
    headers = {**alpha.headers, "Idempotency-Key": "k"}
    ok = await client.post(f"{alpha.base}/apps", json={"name": "one", "gitUrl": git_url},
                           headers=headers)  # fmt: skip
    assert ok.status_code == 201
    r = await client.post(f"{alpha.base}/apps", json={"name": "two", "gitUrl": git_url},
                          headers=headers)  # fmt: skip
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await _app_names(client, alpha) == ["alpha-app", "one"]


async def test_an_error_answer_is_replayed_too(client: httpx.AsyncClient, alpha: Tenant) -> None:
    headers = {**alpha.headers, "Idempotency-Key": "bad"}
    first = await client.post(f"{alpha.base}/apps", json={"name": "Bad!"}, headers=headers)
    again = await client.post(f"{alpha.base}/apps", json={"name": "Bad!"}, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.text == first.text


async def test_keys_are_per_workspace(
    client: httpx.AsyncClient, alpha: Tenant, beta: Tenant, git_url: str
) -> None:
    for t in (alpha, beta):
        r = await client.post(f"{t.base}/apps", json={"name": "same", "gitUrl": git_url},
                              headers={**t.headers, "Idempotency-Key": "shared"})  # fmt: skip
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    # a key of alpha on beta's path is 404 and stores nothing in either workspace
    r = await client.post(f"{beta.base}/apps", json={"name": "x", "gitUrl": git_url},
                          headers={**alpha.headers, "Idempotency-Key": "other"})  # fmt: skip
    assert r.status_code == 404


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9", "a\tb"])
async def test_a_malformed_key_is_422(
    client: httpx.AsyncClient, alpha: Tenant, git_url: str, key: str
) -> None:
    headers = {**alpha.headers, "Idempotency-Key": key.encode()}
    r = await client.post(f"{alpha.base}/apps", json={"name": "z", "gitUrl": git_url},
                          headers=headers)  # fmt: skip
    assert r.status_code == 422
    assert await _app_names(client, alpha) == ["alpha-app"]


async def test_a_running_first_request_makes_a_repeat_409(store: SqlStore, alpha: Tenant) -> None:
    print_ = idempotency.fingerprint("POST", "/x", b"{}")
    claim = await idempotency.begin(store, workspace_id=alpha.ws_id, key="k", print_=print_)
    assert claim.replay is None
    with pytest.raises(Conflict):
        await idempotency.begin(store, workspace_id=alpha.ws_id, key="k", print_=print_)
    await idempotency.finish(store, claim, None)  # a 5xx forgets the key
    again = await idempotency.begin(store, workspace_id=alpha.ws_id, key="k", print_=print_)
    assert again.replay is None


async def test_a_key_expires_after_24_hours(store: SqlStore, alpha: Tenant) -> None:
    repo = store.scoped(alpha.ws_id).idempotency
    old = IdempotencyRecord(alpha.ws_id, "old", "f" * 64, utcnow() - timedelta(hours=25))
    assert await repo.claim(old, expired_before=old.created_at - timedelta(hours=1)) is None
    claim = await idempotency.begin(store, workspace_id=alpha.ws_id, key="old", print_="a" * 64)
    assert claim.replay is None  # the old record was removed, not compared


async def raw_rows(store: SqlStore) -> bytes:
    """Every idempotency row, as the database holds it."""
    async with store._db.read() as session:
        rows = (await session.execute(text("SELECT * FROM idempotency_keys"))).all()
    return repr(rows).encode()


async def test_no_secret_is_stored_in_clear_and_a_key_is_shown_once(
    client: httpx.AsyncClient, store: SqlStore, alpha: Tenant, git_url: str, tmp_path: Path
) -> None:
    """The replayed bodies of POST /api-keys (the new key) and POST /apps (its env values)
    were kept as plain JSON for 24 h."""
    secret = "sk_live_idem_5e4d3c2b1a"
    app_headers = {**alpha.headers, "Idempotency-Key": "app-with-secret"}
    body = {"name": "payments", "gitUrl": git_url, "env": {"STRIPE_KEY": secret}}
    first = await client.post(f"{alpha.base}/apps", json=body, headers=app_headers)
    again = await client.post(f"{alpha.base}/apps", json=body, headers=app_headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.json()["env"]["STRIPE_KEY"] == secret
    key_headers = {**alpha.headers, "Idempotency-Key": "new-key"}
    made = await client.post(f"{alpha.base}/api-keys", json={"name": "ci"}, headers=key_headers)
    replayed = await client.post(f"{alpha.base}/api-keys", json={"name": "ci"}, headers=key_headers)
    assert made.status_code == replayed.status_code == 201
    new_key = made.json()["key"]
    assert "key" not in replayed.json()  # shown once
    assert replayed.json() == {k: v for k, v in made.json().items() if k != "key"}
    stored = await raw_rows(store)
    assert secret.encode() not in stored and new_key.encode() not in stored
    for db_file in tmp_path.glob("slipway.db*"):  # SQLite: the files themselves
        data = db_file.read_bytes()
        assert secret.encode() not in data and new_key.encode() not in data
