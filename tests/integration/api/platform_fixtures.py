"""The in-process platform the API and security tests share: a real store (SQLite in
tmp_path, or a fresh PostgreSQL database with SLIPWAY_TEST_DATABASE_URL), a real git source,
and the null builder, runtime and router (nothing is built or run)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.dbswitch import fresh_database_url
from tests.integration.api import api_helpers as h

from slipway.api import create_app
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite in tmp_path, or a fresh PostgreSQL database (tests/dbswitch.py)."""
    with fresh_database_url() as url:
        yield url or f"sqlite:///{tmp_path / 'slipway.db'}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url)
    await s.migrate()
    yield s
    await s.close()


@pytest.fixture
async def platform(store: SqlStore, tmp_path: Path) -> AsyncIterator[Platform]:
    p = Platform(
        store=store,
        source=GitSource(tmp_path / "git-cache", local=LocalRepos(anywhere=True)),
        builder=h.null_builder(),
        runtime=h.null_runtime(),
        router=h.null_router(),
        settings=Settings(local_git=LocalRepos(anywhere=True)),
    )
    yield p
    await p.close()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://slipway.test") as c:
        yield c
