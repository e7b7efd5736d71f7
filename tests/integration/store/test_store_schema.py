"""Migrations, schema, timestamps and concurrency of the SQL store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import store_factories as f
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError

from slipway.domain.models import Workspace
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore
from slipway.store.models import Base


async def test_migrate_twice_is_a_no_op(store: SqlStore) -> None:
    ws = await f.workspace(store)
    await store.migrate()
    await store.migrate()
    assert await store.workspaces.get(ws.id) == ws
    async with store._db.read() as session:
        assert (await session.execute(text("SELECT version_num FROM alembic_version"))).all() == [
            ("0008",)
        ]


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_exactly_the_models(store: SqlStore) -> None:
    async with store._db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_timestamps_come_back_aware_utc(store: SqlStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    ws = Workspace(id="ws_tz", name="tz", created_at=datetime(2025, 1, 1, 14, 0, tzinfo=plus2))
    await store.workspaces.create(ws)
    got = await store.workspaces.get("ws_tz")
    assert got is not None
    assert got.created_at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert got.created_at.tzinfo == UTC


async def test_naive_timestamps_are_refused(store: SqlStore) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        await store.workspaces.create(Workspace("ws_naive", "naive", datetime(2025, 1, 1)))


async def test_concurrent_writers_never_see_a_locked_database(make_store: Any) -> None:
    # Two stores on one database stand for two processes (server and CLI).
    first, second = make_store(), make_store()
    await first.migrate()
    ws = await f.workspace(first)
    a = await f.app(first, ws)
    deps = [await f.deployment(first, a, created=i) for i in range(5)]

    async def churn(s: SqlStore, dep_index: int) -> None:
        scoped = s.scoped(ws.id)
        dep = deps[dep_index]
        for i in range(10):
            await scoped.logs.append(dep.id, i, [f"line {i}"])
        dep.status = DeploymentStatus.BUILDING
        await scoped.deployments.update(dep)
        await f.revision(s, dep)

    await asyncio.gather(*(churn(s, i) for i, s in enumerate([first, second] * 2 + [first])))
    revisions = await first.scoped(ws.id).revisions.list(a.id)
    assert sorted(r.number for r in revisions) == [1, 2, 3, 4, 5]
    for dep in deps:
        assert len(await second.scoped(ws.id).logs.list(dep.id)) == 10


async def test_processes_starting_at_once_migrate_a_fresh_database_once(make_store) -> None:
    """Several platform processes starting together on an empty database must not race."""
    stores = [make_store() for _ in range(4)]
    await asyncio.wait_for(asyncio.gather(*(s.migrate() for s in stores)), 60)
    for s in stores:
        await s.migrate()  # and again: idempotent
        async with s._db.read() as session:
            versions = await session.execute(text("SELECT version_num FROM alembic_version"))
            assert versions.all() == [("0008",)]
