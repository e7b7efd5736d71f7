"""Workspace scoping: another workspace's ids behave exactly like unknown ids."""

from __future__ import annotations

import dataclasses

import pytest
import store_factories as f

from slipway.domain.errors import NotFound
from slipway.domain.models import TrafficSplit
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore


async def test_other_workspaces_objects_are_invisible(store: SqlStore) -> None:
    mine, theirs = await f.workspace(store, "mine"), await f.workspace(store, "theirs")
    a = await f.app(store, theirs, "web")
    dep = await f.deployment(store, a, DeploymentStatus.SUCCEEDED)
    rev = await f.revision(store, dep)
    await store.scoped(theirs.id).traffic.set(a.id, [TrafficSplit(rev.name, 100)])
    await store.scoped(theirs.id).logs.append(dep.id, 0, ["secret"])
    key = f.api_key(theirs)
    await store.scoped(theirs.id).api_keys.create(key)

    s = store.scoped(mine.id)
    assert await s.apps.get(a.id) is None
    assert await s.apps.get_by_name("web") is None
    assert await s.apps.list(offset=0, limit=10) == ([], 0)
    assert await s.deployments.get(dep.id) is None
    assert await s.deployments.list(app_id=a.id, status=None, offset=0, limit=10) == ([], 0)
    assert await s.revisions.list(a.id) == []
    assert await s.revisions.get(a.id, rev.name) is None
    assert await s.revisions.get_for_deployment(dep.id) is None
    assert await s.traffic.get(a.id) == []
    assert await s.logs.list(dep.id) == []
    assert await s.api_keys.list() == []


async def test_other_workspaces_objects_cannot_be_changed(store: SqlStore) -> None:
    mine, theirs = await f.workspace(store, "mine"), await f.workspace(store, "theirs")
    a = await f.app(store, theirs, "web")
    dep = await f.deployment(store, a)
    rev = await f.revision(store, dep)
    key = f.api_key(theirs)
    await store.scoped(theirs.id).api_keys.create(key)
    s = store.scoped(mine.id)

    # Passing another workspace's object to a scoped repository is a programming error...
    with pytest.raises(ValueError, match="scoped to"):
        await s.apps.update(dataclasses.replace(a, name="stolen"))
    with pytest.raises(ValueError, match="scoped to"):
        await s.deployments.update(dep)
    # ...and relabelling it with my workspace only finds nothing.
    with pytest.raises(NotFound):
        await s.apps.update(dataclasses.replace(a, workspace_id=mine.id, name="stolen"))
    hijack = dataclasses.replace(dep, workspace_id=mine.id, status=DeploymentStatus.CANCELLED)
    assert not await s.deployments.update(hijack)
    assert not await s.deployments.update(hijack, expect=frozenset({DeploymentStatus.QUEUED}))
    assert not await s.apps.delete(a.id)
    assert not await s.api_keys.delete(key.id)
    with pytest.raises(NotFound):
        await s.traffic.set(a.id, [TrafficSplit(rev.name, 100)])
    with pytest.raises(NotFound):
        await s.logs.append(dep.id, 0, ["injected"])
    with pytest.raises(NotFound):
        await s.revisions.create(dataclasses.replace(rev, workspace_id=mine.id))
    with pytest.raises(NotFound):
        await f.deployment(store, dataclasses.replace(a, workspace_id=mine.id))

    t = store.scoped(theirs.id)
    assert await t.apps.get(a.id) == a
    assert await t.deployments.get(dep.id) == dep
    assert await t.revisions.list(a.id) == [rev]
    assert await t.traffic.get(a.id) == []
    assert await t.logs.list(dep.id) == []
    assert await t.api_keys.list() == [key]


async def test_revision_for_a_deployment_of_another_app_workspace_is_refused(
    store: SqlStore,
) -> None:
    mine, theirs = await f.workspace(store, "mine"), await f.workspace(store, "theirs")
    my_app = await f.app(store, mine, "web")
    their_dep = await f.deployment(store, await f.app(store, theirs, "web"))
    rev = dataclasses.replace(
        await f.revision(store, their_dep), workspace_id=mine.id, app_id=my_app.id
    )
    with pytest.raises(NotFound):
        await store.scoped(mine.id).revisions.create(rev)
    assert await store.scoped(mine.id).revisions.list(my_app.id) == []
