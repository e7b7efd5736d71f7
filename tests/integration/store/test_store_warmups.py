"""Warm-ups (a traffic change's revisions, started before it is stored): per app, scoped by
workspace, replaced whole, ignored once expired, gone with the app."""

from __future__ import annotations

from datetime import timedelta

import pytest
import store_factories as f

from slipway.domain.errors import Invalid
from slipway.store import SqlStore


async def test_a_warmup_is_replaced_whole_and_expires(store: SqlStore) -> None:
    ws = await f.workspace(store)
    app = await f.app(store, ws)
    one = await f.revision(store, await f.deployment(store, app))
    two = await f.revision(store, await f.deployment(store, app, created=1))
    warmups = store.scoped(ws.id).warmups
    await warmups.set(app.id, {one.name: 2, two.name: 1}, until=f.at(60))
    assert await warmups.get(app.id, now=f.at(0)) == {one.name: 2, two.name: 1}
    await warmups.set(app.id, {two.name: 3}, until=f.at(60))
    assert await warmups.get(app.id, now=f.at(0)) == {two.name: 3}
    assert await warmups.get(app.id, now=f.at(60) + timedelta(seconds=1)) == {}  # expired
    await warmups.clear(app.id)
    assert await warmups.get(app.id, now=f.at(0)) == {}


async def test_warmups_are_scoped_checked_and_deleted_with_the_app(store: SqlStore) -> None:
    ws, other = await f.workspace(store), await f.workspace(store, "beta")
    app = await f.app(store, ws)
    rev = await f.revision(store, await f.deployment(store, app))
    await store.scoped(ws.id).warmups.set(app.id, {rev.name: 1}, until=f.at(60))
    assert await store.scoped(other.id).warmups.get(app.id, now=f.at(0)) == {}
    await store.scoped(other.id).warmups.clear(app.id)  # another workspace clears nothing
    assert await store.scoped(ws.id).warmups.get(app.id, now=f.at(0)) == {rev.name: 1}
    with pytest.raises(Invalid):
        await store.scoped(ws.id).warmups.set(app.id, {"web-00099": 1}, until=f.at(60))
    assert await store.scoped(ws.id).apps.delete(app.id)
    assert await store.scoped(ws.id).warmups.get(app.id, now=f.at(0)) == {}
