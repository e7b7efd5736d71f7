"""Deployment leases and claims (store/leases.py), on SQLite and PostgreSQL.

Several stores on one database stand for several worker processes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import store_factories as f

from slipway.domain.models import utcnow
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore

Q, B, D, S = (
    DeploymentStatus.QUEUED,
    DeploymentStatus.BUILDING,
    DeploymentStatus.DEPLOYING,
    DeploymentStatus.SUCCEEDED,
)
LEASE = 30.0


async def _claim(
    store: SqlStore, owner: str = "w1", *, handovers: bool = False, per_workspace: int = 10
) -> Any:
    """A claim; these tests are about apps and order, so workspaces may build 10 at once."""
    return await store.claim_deployment(
        owner=owner, lease_seconds=LEASE, handovers=handovers, builds_per_workspace=per_workspace
    )


async def test_claim_takes_the_oldest_and_leases_it(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, b = await f.app(store, ws, "web"), await f.app(store, ws, "api")
    first = await f.deployment(store, a, Q, created=1)
    second = await f.deployment(store, a, Q, created=2)
    other = await f.deployment(store, b, Q, created=3)

    got = await _claim(store)
    assert (got.id, got.status) == (first.id, B)
    assert got.started_at is not None
    assert (await _claim(store, "w2")).id == other.id  # web is busy
    assert await _claim(store, "w3") is None
    stored = await store.scoped(ws.id).deployments.get(first.id)
    assert stored is not None and stored.status == B

    done = replace(got, status=S, finished_at=utcnow())
    await store.scoped(ws.id).deployments.update(done)
    assert (await _claim(store)).id == second.id


async def test_renew_release_and_handover(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws)
    dep = await f.deployment(store, a, Q)
    later = await f.deployment(store, a, Q, created=5)
    got = await _claim(store, "builder")
    assert await store.renew_deployment(got.id, owner="builder", lease_seconds=LEASE)
    assert not await store.renew_deployment(got.id, owner="someone", lease_seconds=LEASE)

    moved = replace(got, status=D)
    await store.scoped(ws.id).deployments.update(moved)
    assert await store.release_deployment(dep.id, owner="builder")
    assert await _claim(store, "w2") is None  # only the replica owner takes a handover
    handed = await _claim(store, "leader", handovers=True)
    assert (handed.id, handed.status) == (dep.id, D)
    assert await _claim(store, "w2") is None  # `later` waits for its app
    assert later.status == Q


async def test_acquire_a_rollback_once(store: SqlStore) -> None:
    ws = await f.workspace(store)
    dep = await f.deployment(store, await f.app(store, ws), D)
    assert await store.acquire_deployment(dep.id, owner="api", lease_seconds=LEASE)
    assert not await store.acquire_deployment(dep.id, owner="other", lease_seconds=LEASE)


async def test_expired_leases_and_requeue(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, b = await f.app(store, ws, "web"), await f.app(store, ws, "api")
    await f.deployment(store, a, Q)
    await f.deployment(store, b, Q, created=1)
    dead = await store.claim_deployment(owner="dead", lease_seconds=0.0, handovers=False)
    alive = await _claim(store, "alive")
    assert dead is not None and alive is not None
    later = utcnow() + timedelta(seconds=2)
    assert [d.id for d in await store.expired_deployments(now=later)] == [dead.id]
    assert [d.id for d in await store.expired_deployments(now=later, other_than="alive")] == [
        dead.id
    ]
    assert not await store.requeue_deployment(alive.id, now=later)  # alive: not dead
    assert await store.requeue_deployment(dead.id, now=later)
    assert not await store.requeue_deployment(dead.id, now=later)  # once
    back = await store.scoped(ws.id).deployments.get(dead.id)
    assert back is not None and (back.status, back.started_at) == (Q, None)
    assert await store.expired_deployments(now=later) == []


async def test_two_workers_never_claim_the_same_deployment(make_store: Any) -> None:
    first, second = make_store(), make_store()
    await first.migrate()
    ws = await f.workspace(first)
    apps = [await f.app(first, ws, f"app{i}") for i in range(3)]
    for n in range(4):
        for a in apps:
            await f.deployment(first, a, Q, created=n)
    claims: list[tuple[str, str]] = []

    async def work(store: SqlStore, owner: str) -> None:
        while True:
            dep = await _claim(store, owner)
            if dep is None:
                if len(claims) == 12:
                    return
                await asyncio.sleep(0.01)
                continue
            claims.append((dep.app_id, dep.id))
            await asyncio.sleep(0.005)
            finished = replace(dep, status=S, finished_at=utcnow())
            await store.scoped(ws.id).deployments.update(finished)

    await asyncio.wait_for(
        asyncio.gather(work(first, "a"), work(second, "b"), work(first, "c")), 60
    )
    assert len({dep_id for _, dep_id in claims}) == 12
    for a in apps:
        listed, _ = await first.scoped(ws.id).deployments.list(
            app_id=a.id, status=None, offset=0, limit=10
        )
        in_order = [d.id for d in reversed(listed)]
        assert [dep_id for app_id, dep_id in claims if app_id == a.id] == in_order


async def test_leader_lease(make_store: Any) -> None:
    one, two = make_store(), make_store()
    await one.migrate()
    assert await one.lead("replicas", owner="p1", lease_seconds=LEASE)
    assert not await two.lead("replicas", owner="p2", lease_seconds=LEASE)
    assert await one.lead("replicas", owner="p1", lease_seconds=0.0)  # renewed, now expired
    await asyncio.sleep(0.01)
    assert await two.lead("replicas", owner="p2", lease_seconds=LEASE)
    await two.resign("replicas", owner="p2")
    assert await one.lead("replicas", owner="p1", lease_seconds=LEASE)


async def test_one_revision_per_deployment(store: SqlStore) -> None:
    ws = await f.workspace(store)
    dep = await f.deployment(store, await f.app(store, ws))
    first, again = await asyncio.gather(f.revision(store, dep), f.revision(store, dep))
    assert first == again
    assert len(await store.scoped(ws.id).revisions.list(dep.app_id)) == 1


async def test_a_workspace_builds_at_most_its_share_and_the_least_busy_goes_first(
    store: SqlStore,
) -> None:
    """Two `sleep` builds of workspace A kept B's deploy queued for as long as they ran."""
    a_ws, b_ws = await f.workspace(store, "a"), await f.workspace(store, "b")
    a_apps = [await f.app(store, a_ws, f"a{i}") for i in range(3)]
    b_app = await f.app(store, b_ws, "b0")
    a_deps = [await f.deployment(store, app, Q, created=i) for i, app in enumerate(a_apps)]
    b_dep = await f.deployment(store, b_app, Q, created=10)  # the newest of all

    first = await _claim(store, per_workspace=1)
    assert first.id == a_deps[0].id
    assert (await _claim(store, "w2", per_workspace=1)).id == b_dep.id  # A has its one build
    assert await _claim(store, "w3", per_workspace=1) is None  # both at their share
    # With a share of 2, A's next build waits behind a workspace that builds less:
    c_ws = await f.workspace(store, "c")
    c_dep = await f.deployment(store, await f.app(store, c_ws, "c0"), Q, created=20)
    assert (await _claim(store, "w4", per_workspace=2)).id == c_dep.id
    assert (await _claim(store, "w5", per_workspace=2)).id == a_deps[1].id
