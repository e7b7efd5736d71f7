"""Custom domains in the store: scoped by workspace, a hostname unique across the whole
platform (409), the certificate loop's questions, and gone with their app."""

from __future__ import annotations

from dataclasses import replace

import pytest
import store_factories as f

from slipway.domain.errors import Conflict
from slipway.domain.models import Domain
from slipway.store import SqlStore


def domain(ws_id: str, app_id: str, hostname: str, n: int = 1, **kw: object) -> Domain:
    made = Domain(
        id=f"dom_{n:026d}",
        workspace_id=ws_id,
        app_id=app_id,
        hostname=hostname,
        created_at=f.at(0),
        updated_at=f.at(0),
        next_attempt_at=f.at(0),
    )
    return replace(made, **kw)  # type: ignore[arg-type]


async def test_domains_are_scoped_and_found_by_id_or_hostname(store: SqlStore) -> None:
    ws, other = await f.workspace(store), await f.workspace(store, "beta")
    app = await f.app(store, ws)
    mine = store.scoped(ws.id).domains
    await mine.create(domain(ws.id, app.id, "b.example.com", 1))
    await mine.create(domain(ws.id, app.id, "a.example.com", 2, tag="canary"))
    assert [d.hostname for d in await mine.list(app.id)] == ["a.example.com", "b.example.com"]
    found = await mine.get(app.id, "a.example.com")
    assert found is not None and found.tag == "canary" and found.status == "pendingDns"
    assert await mine.get(app.id, found.id) == found
    theirs = store.scoped(other.id).domains
    assert await theirs.list(app.id) == []
    assert await theirs.get(app.id, found.id) is None
    assert not await theirs.delete(app.id, found.id)
    assert await mine.delete(app.id, found.id)
    assert [d.hostname for d in await mine.list(app.id)] == ["b.example.com"]


async def test_a_hostname_belongs_to_one_app_in_the_whole_platform(store: SqlStore) -> None:
    ws, other = await f.workspace(store), await f.workspace(store, "beta")
    app, theirs = await f.app(store, ws), await f.app(store, other)
    await store.scoped(ws.id).domains.create(domain(ws.id, app.id, "api.example.com", 1))
    with pytest.raises(Conflict, match="already in use"):
        await store.scoped(other.id).domains.create(
            domain(other.id, theirs.id, "api.example.com", 2)
        )
    with pytest.raises(Conflict):
        await store.scoped(ws.id).domains.create(domain(ws.id, app.id, "api.example.com", 3))
    assert await store.scoped(other.id).domains.list(theirs.id) == []


async def test_the_certificate_loop_sees_due_domains_and_cannot_resurrect_one(
    store: SqlStore,
) -> None:
    ws = await f.workspace(store)
    app = await f.app(store, ws)
    repo = store.scoped(ws.id).domains
    await repo.create(domain(ws.id, app.id, "now.example.com", 1))
    await repo.create(domain(ws.id, app.id, "later.example.com", 2, next_attempt_at=f.at(60)))
    due = await store.domains_due(f.at(1))
    assert [d.hostname for d in due] == ["now.example.com"]
    ready = replace(due[0], status="ready", certificate_path="/x.pem", next_attempt_at=f.at(99))
    assert await store.save_domain(ready)
    assert (await repo.get(app.id, "now.example.com")) == ready
    assert [d.hostname for d in await store.all_domains()] == [
        "later.example.com",
        "now.example.com",
    ]
    assert await repo.delete(app.id, ready.id)
    assert not await store.save_domain(ready)  # deleted while it was being issued
    assert await repo.get(app.id, ready.id) is None


async def test_an_app_with_a_domain_is_served_and_its_domains_go_with_it(
    store: SqlStore,
) -> None:
    ws = await f.workspace(store)
    app = await f.app(store, ws)
    assert await store.serving_apps() == []
    await store.scoped(ws.id).domains.create(domain(ws.id, app.id, "api.example.com"))
    assert [a.id for _, a in await store.serving_apps()] == [app.id]
    assert await store.scoped(ws.id).apps.delete(app.id)
    assert await store.all_domains() == []
