"""`services/deploy/recovery.py` over a real store: deployments of a dead worker are taken back.

The builder, runtime and router are the API tests' null ones: recovery only reads and
writes the store here (the crash test in tests/e2e covers the processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.dbswitch import POSTGRES, fresh_database_url
from tests.integration.api import api_helpers as h
from tests.integration.store import store_factories as f

from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.domain.models import TrafficSplit
from slipway.domain.states import DeploymentStatus as S
from slipway.services.deploy.recovery import REQUEUED_LINE, RESUMED_LINE, recover_expired
from slipway.services.platform import Platform
from slipway.services.platform.leasing import LeaseSettings
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
        source=GitSource(tmp_path / "git", local=LocalRepos(anywhere=True)),
        builder=h.null_builder(),
        runtime=h.null_runtime(),
        router=h.null_router(),
    )
    yield p
    await p.close()
    await store.close()


async def test_dead_workers_deployments_are_requeued_handed_over_or_finished(
    platform: Platform,
) -> None:
    p = platform
    ws = await f.workspace(p.store)
    scoped = p.store.scoped(ws.id)
    apps = [await f.app(p.store, ws, f"a{i}") for i in range(3)]
    building, cut, shifted = [await f.deployment(p.store, a) for a in apps]
    for _ in range(3):
        await p.store.claim_deployment(
            owner="dead", lease_seconds=0, handovers=False, builds_per_workspace=3
        )
    names = {}
    for dep in (cut, shifted):
        rev = await f.revision(p.store, dep)
        names[dep.id] = rev.name
        moved = replace(dep, status=S.DEPLOYING, revision_name=rev.name)
        await scoped.deployments.update(moved)
    await scoped.traffic.set(shifted.app_id, [TrafficSplit(names[shifted.id], 100)])

    assert await recover_expired(p, ME) == 3
    got = {d.id: await scoped.deployments.get(d.id) for d in (building, cut, shifted)}
    assert got[building.id].status == S.QUEUED
    assert (got[cut.id].status, got[cut.id].error) == (S.DEPLOYING, None)
    assert got[shifted.id].status == S.SUCCEEDED
    assert (await scoped.logs.list(building.id))[-1] == REQUEUED_LINE
    assert (await scoped.logs.list(cut.id))[-1] == RESUMED_LINE
    assert await recover_expired(p, ME) == 0  # idempotent
    # The cut rollout waits, unowned, for the replica owner (a builder cannot take it).
    rebuilt = await p.store.claim_deployment(owner="b", lease_seconds=30, handovers=False)
    assert rebuilt is not None and rebuilt.id == building.id
    assert await p.store.claim_deployment(owner="b", lease_seconds=30, handovers=False) is None
    again = await p.store.claim_deployment(owner="owner", lease_seconds=30, handovers=True)
    assert again is not None and (again.id, again.status) == (cut.id, S.DEPLOYING)


async def test_a_live_lease_is_left_alone_except_on_sqlite(platform: Platform) -> None:
    p = platform
    ws = await f.workspace(p.store)
    dep = await f.deployment(p.store, await f.app(p.store, ws))
    await p.store.claim_deployment(owner="alive", lease_seconds=30, handovers=False)
    single = p.store.single_process  # SQLite: another owner's lease is a dead process's
    assert await recover_expired(p, ME) == (1 if single else 0)
    stored = await p.store.scoped(ws.id).deployments.get(dep.id)
    assert stored is not None
    assert stored.status == (S.QUEUED if single else S.BUILDING)
