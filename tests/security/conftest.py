"""The Deploy API in-process over a real SQLite store and real git repositories, with two
workspaces ("alpha" and "beta") that each own an app, deployments, a revision with traffic,
log lines and two API keys. Builder, runtime and router are the null ones of the API tests:
nothing here builds or runs an app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.dbswitch import fresh_database_url
from tests.security.tenants import Tenant, h, make_tenant

from slipway.api import create_app
from slipway.builder.source import GitSource
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore

if TYPE_CHECKING:
    from tests.conftest import GitRepo


@pytest.fixture
def git_url(make_repo: Callable[[str], GitRepo]) -> str:
    repo = make_repo("app")
    repo.commit({"app.py": "print('hi')\n"}, "feat: first")
    return repo.url


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
        source=GitSource(tmp_path / "git-cache", allow_local=True),
        builder=h.NullBuilder(),
        runtime=h.NullRuntime(),
        router=h.NullRouter(),
        settings=Settings(allow_local_git=True),
    )
    yield p
    await p.close()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://slipway.test") as c:
        yield c


@pytest.fixture
async def alpha(store: SqlStore, client: httpx.AsyncClient, git_url: str) -> Tenant:
    return await make_tenant(store, client, name="alpha", git_url=git_url)


@pytest.fixture
async def beta(store: SqlStore, client: httpx.AsyncClient, git_url: str) -> Tenant:
    return await make_tenant(store, client, name="beta", git_url=git_url)
