"""The cross-workspace questions: the order deployments are claimed in, active deployments,
serving apps."""

from __future__ import annotations

from dataclasses import replace

import store_factories as f

from slipway.domain.models import Deployment, TrafficSplit
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore

Q, B, D, S = (
    DeploymentStatus.QUEUED,
    DeploymentStatus.BUILDING,
    DeploymentStatus.DEPLOYING,
    DeploymentStatus.SUCCEEDED,
)


async def _claim(store: SqlStore) -> Deployment | None:
    return await store.claim_deployment(owner="w", lease_seconds=30, handovers=False)


async def test_the_oldest_queued_deployment_is_claimed_first_across_workspaces(
    store: SqlStore,
) -> None:
    assert await _claim(store) is None
    one, two = await f.workspace(store, "one"), await f.workspace(store, "two")
    a, b = await f.app(store, one), await f.app(store, two)
    await f.deployment(store, a, S, created=-100)
    late = await f.deployment(store, a, Q, created=20)
    early = await f.deployment(store, b, Q, created=10)
    claimed = await _claim(store)
    assert claimed is not None and (claimed.id, claimed.status) == (early.id, B)
    claimed = await _claim(store)
    assert claimed is not None and claimed.id == late.id
    assert await _claim(store) is None


async def test_an_app_runs_one_deployment_at_a_time_in_creation_order(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a, b = await f.app(store, ws, "web"), await f.app(store, ws, "api")
    first = await f.deployment(store, a, Q)
    second = await f.deployment(store, a, Q)  # same second: creation order decides
    other = await f.deployment(store, b, Q, created=30)
    deps = store.scoped(ws.id).deployments
    many = {"owner": "w", "lease_seconds": 30, "handovers": False, "builds_per_workspace": 3}

    claimed = await store.claim_deployment(**many)  # type: ignore[arg-type]
    assert claimed is not None and claimed.id == first.id
    claimed = await store.claim_deployment(**many)  # type: ignore[arg-type]
    assert claimed is not None and claimed.id == other.id  # web is busy
    running = await deps.get(first.id)
    assert running is not None
    await deps.update(replace(running, status=D))
    assert await store.claim_deployment(**many) is None  # type: ignore[arg-type]  # still busy
    await deps.update(replace(running, status=S))
    claimed = await store.claim_deployment(**many)  # type: ignore[arg-type]
    assert claimed is not None and claimed.id == second.id


async def test_active_deployments(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws)
    await f.deployment(store, a, Q)
    building = await f.deployment(store, a, B, created=1)
    deploying = await f.deployment(store, a, D, created=2)
    await f.deployment(store, a, S, created=3)
    assert await store.active_deployments() == [building, deploying]


async def test_serving_apps_are_those_with_traffic(store: SqlStore) -> None:
    one, two = await f.workspace(store, "one"), await f.workspace(store, "two")
    idle = await f.app(store, one, "idle")
    served = []
    for ws in (two, one):
        a = await f.app(store, ws, "web")
        rev = await f.revision(store, await f.deployment(store, a, S))
        await store.scoped(ws.id).traffic.set(a.id, [TrafficSplit(rev.name, 100)])
        served.append((ws, a))
    assert idle not in [a for _, a in await store.serving_apps()]
    assert await store.serving_apps() == served[::-1]
