"""CRUD of each repository of the SQL store, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
import store_factories as f

from slipway.domain.errors import Conflict, Invalid, NotFound
from slipway.domain.models import TrafficSplit
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore


async def test_workspaces(store: SqlStore) -> None:
    ws = await f.workspace(store, "acme")
    assert await store.workspaces.get(ws.id) == ws
    assert await store.workspaces.get_by_name("acme") == ws
    assert await store.workspaces.get("ws_unknown") is None
    assert await store.workspaces.get_by_name("other") is None
    with pytest.raises(Conflict, match="a workspace named 'acme' already exists"):
        await f.workspace(store, "acme")
    other = await f.workspace(store, "beta")
    assert await store.workspaces.list() == [ws, other]


async def test_api_keys(store: SqlStore) -> None:
    ws = await f.workspace(store)
    keys = store.scoped(ws.id).api_keys
    first, second = f.api_key(ws, "ci", "a" * 64), f.api_key(ws, "laptop", "b" * 64)
    await keys.create(first)
    await keys.create(second)
    assert await keys.list() == [first, second]
    assert await store.find_api_key("a" * 64) == first
    assert await store.find_api_key("c" * 64) is None

    await store.touch_api_key(first.id)
    touched = await store.find_api_key("a" * 64)
    assert touched is not None and touched.last_used_at is not None

    assert await keys.delete(first.id) is True
    assert await keys.delete(first.id) is False
    assert await store.find_api_key("a" * 64) is None
    with pytest.raises(Conflict):
        await keys.create(f.api_key(ws, "dup", "b" * 64))


async def test_app_crud(store: SqlStore) -> None:
    ws = await f.workspace(store)
    apps = store.scoped(ws.id).apps
    a = await f.app(store, ws, "web", env={"A": "1"}, max_replicas=3, release_command="migrate")
    assert await apps.get(a.id) == a
    assert await apps.get_by_name("web") == a

    changed = dataclasses.replace(a, name="api", env={"B": "2"}, replicas=4, updated_at=f.at(9))
    await apps.update(changed)
    assert await apps.get(a.id) == changed
    assert await apps.get_by_name("web") is None

    with pytest.raises(NotFound):
        await apps.update(dataclasses.replace(a, id="app_unknown"))
    assert await apps.delete(a.id) is True
    assert await apps.get(a.id) is None
    assert await apps.delete(a.id) is False


async def test_app_names_are_unique_per_workspace(store: SqlStore) -> None:
    ws, other = await f.workspace(store, "acme"), await f.workspace(store, "other")
    await f.app(store, ws, "web")
    api = await f.app(store, ws, "api")
    await f.app(store, other, "web")  # another workspace may use the name
    with pytest.raises(Conflict, match="an app named 'web' already exists in this workspace"):
        await f.app(store, ws, "web")
    with pytest.raises(Conflict, match="an app named 'web' already exists"):
        await store.scoped(ws.id).apps.update(dataclasses.replace(api, name="web"))
    assert (await store.scoped(ws.id).apps.get(api.id)) == api


async def test_app_list_pages_by_name(store: SqlStore) -> None:
    ws = await f.workspace(store)
    for name in ["c", "a", "b", "d", "e"]:
        await f.app(store, ws, name)
    apps = store.scoped(ws.id).apps
    page, total = await apps.list(offset=2, limit=2)
    assert ([a.name for a in page], total) == (["c", "d"], 5)
    page, total = await apps.list(offset=4, limit=10)
    assert ([a.name for a in page], total) == (["e"], 5)


async def test_deleting_an_app_removes_everything_it_owns(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, kept = await f.app(store, ws, "web"), await f.app(store, ws, "kept")
    s = store.scoped(ws.id)
    for owner in (a, kept):
        dep = await f.deployment(store, owner, DeploymentStatus.SUCCEEDED)
        rev = await f.revision(store, dep)
        await s.traffic.set(owner.id, [TrafficSplit(rev.name, 100)])
        await s.logs.append(dep.id, 0, ["hello"])

    deps, _ = await s.deployments.list(app_id=a.id, status=None, offset=0, limit=10)
    assert await s.apps.delete(a.id)
    assert await s.deployments.get(deps[0].id) is None
    assert await s.deployments.list(app_id=a.id, status=None, offset=0, limit=10) == ([], 0)
    assert await s.revisions.list(a.id) == []
    assert await s.traffic.get(a.id) == []
    assert await s.logs.list(deps[0].id) == []
    assert len(await s.revisions.list(kept.id)) == 1
    assert [w_a[1].name for w_a in await store.serving_apps()] == ["kept"]


async def test_deployment_crud_and_compare_and_set(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws)
    deps = store.scoped(ws.id).deployments
    dep = await f.deployment(store, a, git_branch="main", git_commit_sha="a" * 40)
    assert await deps.get(dep.id) == dep

    dep.status = DeploymentStatus.BUILDING
    dep.started_at = f.at(5)
    assert await deps.update(dep, expect=frozenset({DeploymentStatus.QUEUED}))
    stale = dataclasses.replace(dep, status=DeploymentStatus.CANCELLED)
    assert not await deps.update(stale, expect=frozenset({DeploymentStatus.QUEUED}))
    got = await deps.get(dep.id)
    assert got == dep and got is not None and got.status is DeploymentStatus.BUILDING

    done = dataclasses.replace(
        dep, status=DeploymentStatus.FAILED, error="boom", finished_at=f.at(9)
    )
    assert await deps.update(done)
    assert await deps.get(dep.id) == done
    assert not await deps.update(dataclasses.replace(dep, id="dep_unknown"))
    with pytest.raises(NotFound):
        await f.deployment(store, dataclasses.replace(a, id="app_unknown"))


async def test_deployment_list_newest_first_with_total_and_filter(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, other = await f.app(store, ws, "web"), await f.app(store, ws, "other")
    made = [
        await f.deployment(store, a, DeploymentStatus.FAILED if i % 2 else DeploymentStatus.QUEUED)
        for i in range(5)  # all in the same second: creation order breaks the tie
    ]
    made.append(await f.deployment(store, a, created=-60))
    await f.deployment(store, other)
    deps = store.scoped(ws.id).deployments

    page, total = await deps.list(app_id=a.id, status=None, offset=0, limit=3)
    assert total == 6
    assert [d.id for d in page] == [made[4].id, made[3].id, made[2].id]
    page, total = await deps.list(app_id=a.id, status=None, offset=3, limit=3)
    assert [d.id for d in page] == [made[1].id, made[0].id, made[5].id]
    page, total = await deps.list(app_id=a.id, status=DeploymentStatus.FAILED, offset=0, limit=10)
    assert ([d.id for d in page], total) == ([made[3].id, made[1].id], 2)


async def test_revisions_are_numbered_per_app_and_never_reused(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, b = await f.app(store, ws, "web"), await f.app(store, ws, "api")
    deps = [await f.deployment(store, a, created=i) for i in range(3)]
    revs = [await f.revision(store, d, env={"N": str(i)}) for i, d in enumerate(deps)]
    dep = deps[2]
    assert [(r.number, r.name) for r in revs] == [
        (1, "web-00001"),
        (2, "web-00002"),
        (3, "web-00003"),
    ]
    first_b = await f.revision(store, await f.deployment(store, b))
    assert first_b.name == "api-00001"

    s = store.scoped(ws.id).revisions
    assert await s.list(a.id) == revs[::-1]
    assert await s.get(a.id, "web-00002") == revs[1]
    assert await s.get(b.id, "web-00002") is None
    assert await s.get_for_deployment(dep.id) == revs[2]
    assert await s.get_for_deployment("dep_unknown") is None

    from slipway.store.models import RevisionRow  # a row removed behind the store's back

    async with store._db.write() as session:
        await session.execute(RevisionRow.__table__.delete().where(RevisionRow.number == 3))
    assert (await f.revision(store, await f.deployment(store, a))).name == "web-00004"


async def test_traffic_replaces_splits_in_order(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws)
    dep = await f.deployment(store, a)
    r1, r2, r3 = [await f.revision(store, dep) for _ in range(3)]
    traffic = store.scoped(ws.id).traffic
    assert await traffic.get(a.id) == []

    splits = [TrafficSplit(r3.name, 10, "canary"), TrafficSplit(r1.name, 90)]
    await traffic.set(a.id, splits)
    assert await traffic.get(a.id) == splits
    await traffic.set(a.id, [TrafficSplit(r2.name, 100)])
    assert await traffic.get(a.id) == [TrafficSplit(r2.name, 100)]

    with pytest.raises(Invalid):
        await traffic.set(a.id, [TrafficSplit("web-09999", 100)])
    assert await traffic.get(a.id) == [TrafficSplit(r2.name, 100)]  # unchanged
    with pytest.raises(NotFound):
        await traffic.set("app_unknown", [])
    await traffic.set(a.id, [])
    assert await traffic.get(a.id) == []


async def test_logs_append_and_list_since(store: SqlStore) -> None:
    ws = await f.workspace(store)
    dep = await f.deployment(store, await f.app(store, ws))
    logs = store.scoped(ws.id).logs
    assert await logs.list(dep.id) == []
    await logs.append(dep.id, 0, ["one", "two"])
    await logs.append(dep.id, 2, ["three"])
    await logs.append(dep.id, 3, [])
    assert await logs.list(dep.id) == ["one", "two", "three"]
    assert await logs.list(dep.id, since=1) == ["two", "three"]
    assert await logs.list(dep.id, since=3) == []
    with pytest.raises(Conflict):
        await logs.append(dep.id, 2, ["again"])
    with pytest.raises(NotFound):
        await logs.append("dep_unknown", 0, ["x"])
