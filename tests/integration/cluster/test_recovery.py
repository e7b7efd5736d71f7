"""`services/recovery.py` over a real store: deployments of a dead worker are taken back.

The builder, runtime and router are the API tests' null ones: recovery only reads and
writes the store here (the crash test in tests/e2e covers the processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.dbswitch import POSTGRES, fresh_database_url
from tests.integration.api import api_helpers as h

from slipway.builder.source import GitSource
from slipway.domain.ids import new_id
from slipway.domain.models import App, Deployment, Revision, TrafficSplit, utcnow
from slipway.domain.states import DeploymentStatus as S
from slipway.services.leasing import LeaseSettings
from slipway.services.platform import Platform
from slipway.services.recovery import LOST_ROLLOUT, REQUEUED_LINE, recover_expired
from slipway.store import SqlStore

ME = LeaseSettings(owner="me", lease_seconds=30)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    server = POSTGRES if request.param == "postgres" else None
    with fresh_database_url(server) as url:
        yield url or f"sqlite:///{tmp_path / 'slipway.db'}"


@pytest.fixture
async def platform(database_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    store = SqlStore(database_url)
    await store.migrate()
    p = Platform(
        store=store,
        source=GitSource(tmp_path / "git", allow_local=True),
        builder=h.NullBuilder(),
        runtime=h.NullRuntime(),
        router=h.NullRouter(),
    )
    yield p
    await p.close()
    await store.close()


async def _app(p: Platform, ws_id: str, name: str) -> App:
    now = utcnow()
    a = App(
        id=new_id("app"),
        workspace_id=ws_id,
        name=name,
        git_url="https://x.test/r.git",
        created_at=now,
        updated_at=now,
    )
    await p.store.scoped(ws_id).apps.create(a)
    return a


async def _dep(p: Platform, ws_id: str, app_id: str) -> Deployment:
    dep = Deployment(
        id=new_id("dep"), workspace_id=ws_id, app_id=app_id, status=S.QUEUED, created_at=utcnow()
    )
    await p.store.scoped(ws_id).deployments.create(dep)
    return dep


def _revision(dep: Deployment) -> Revision:
    return Revision(
        workspace_id=dep.workspace_id,
        app_id=dep.app_id,
        name="",
        number=0,
        deployment_id=dep.id,
        image_ref="r/x:1",
        image_digest="sha256:" + "0" * 64,
        start_command="true",
        env={},
        health_check_path=None,
        created_at=utcnow(),
    )


async def test_dead_workers_deployments_are_requeued_failed_or_finished(
    platform: Platform,
) -> None:
    p = platform
    ws = (await h.make_tenant(p.store, "acme")).id
    scoped = p.store.scoped(ws)
    apps = [await _app(p, ws, f"a{i}") for i in range(3)]
    building, cut, shifted = [await _dep(p, ws, a.id) for a in apps]
    for _ in range(3):
        await p.store.claim_deployment(owner="dead", lease_seconds=0, handovers=False)
    names = {}
    for dep in (cut, shifted):
        rev = await scoped.revisions.create(_revision(dep))
        names[dep.id] = rev.name
        moved = replace(dep, status=S.DEPLOYING, revision_name=rev.name)
        await scoped.deployments.update(moved)
    await scoped.traffic.set(shifted.app_id, [TrafficSplit(names[shifted.id], 100)])

    assert await recover_expired(p, ME) == 3
    got = {d.id: await scoped.deployments.get(d.id) for d in (building, cut, shifted)}
    assert got[building.id].status == S.QUEUED
    assert (got[cut.id].status, got[cut.id].error) == (S.FAILED, LOST_ROLLOUT)
    assert got[shifted.id].status == S.SUCCEEDED
    assert (await scoped.logs.list(building.id))[-1] == REQUEUED_LINE
    assert await recover_expired(p, ME) == 0  # idempotent


async def test_a_live_lease_is_left_alone_except_on_sqlite(platform: Platform) -> None:
    p = platform
    ws = (await h.make_tenant(p.store, "acme")).id
    dep = await _dep(p, ws, (await _app(p, ws, "web")).id)
    await p.store.claim_deployment(owner="alive", lease_seconds=30, handovers=False)
    single = p.store.single_process  # SQLite: another owner's lease is a dead process's
    assert await recover_expired(p, ME) == (1 if single else 0)
    stored = await p.store.scoped(ws).deployments.get(dep.id)
    assert stored is not None
    assert stored.status == (S.QUEUED if single else S.BUILDING)
