"""Fixtures: a migrated `SqlStore` on SQLite (a file in tmp_path) and on PostgreSQL.

PostgreSQL tests share one database and isolate themselves in a fresh schema each (through
asyncpg's `server_settings={"search_path": ...}`), dropped afterwards. The server comes from
`SLIPWAY_TEST_POSTGRES_URL` (default `postgresql://postgres@127.0.0.1:5432/test`); when it
cannot be reached, the PostgreSQL variants fail (`.ci/run` starts it): a skipped database is
an untested database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from slipway.store import SqlStore

PG_URL = os.environ.get("SLIPWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """A factory of stores on one fresh database (several stores = several processes)."""
    stores: list[SqlStore] = []
    schema = f"t_{uuid.uuid4().hex}"
    admin = None
    if request.param == "postgres":
        admin = await _pg_admin()
        await admin.execute(f'CREATE SCHEMA "{schema}"')

    def make() -> SqlStore:
        if request.param == "sqlite":
            store = SqlStore(f"sqlite:///{tmp_path / 'slipway.db'}")
        else:
            store = SqlStore(PG_URL, connect_args={"server_settings": {"search_path": schema}})
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    if admin is not None:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def store(make_store: object) -> SqlStore:
    s: SqlStore = make_store()  # type: ignore[operator]
    await s.migrate()
    return s
