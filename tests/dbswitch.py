"""The database switch of the test suite: `SLIPWAY_TEST_DATABASE_URL=postgresql://...`
runs the API, security and end-to-end tests on PostgreSQL; unset, they use SQLite.

Each test gets its own database, created on that server and dropped afterwards, so tests
never see each other's rows and several test runs can share one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import asyncpg
from sqlalchemy.engine import make_url

ENV = "SLIPWAY_TEST_DATABASE_URL"
POSTGRES = os.environ.get("SLIPWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""The server of the tests that always need PostgreSQL (as tests/integration/store's)."""


def configured() -> str | None:
    return os.environ.get(ENV) or None


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _plain(url: str) -> str:
    """asyncpg wants `postgresql://`, without SQLAlchemy's `+asyncpg`."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database_url(server: str | None = None) -> Iterator[str | None]:
    """A new database on `server` (default: the switch's; None when the switch is off)."""
    server = server or configured()
    if server is None:
        yield None
        return
    name = f"slipway_t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(_plain(server), f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(_plain(server), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
