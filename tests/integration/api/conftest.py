"""The Deploy API over a real SQLite store and a real git repository; the builder, runtime
and router are null implementations (nothing is built or run in these tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import api_helpers as h
import httpx
import pytest
from tests.dbswitch import fresh_database_url

from slipway.api import create_app
from slipway.builder.source import GitSource
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore

if TYPE_CHECKING:
    from tests.conftest import GitRepo


@dataclass
class Repo:
    url: str
    first_sha: str  # on main: "feat: first commit"
    main_sha: str  # tip of main: "fix: second commit"
    feature_sha: str  # tip of feature: "feat: on a branch"


@pytest.fixture
def repo(make_repo: Callable[[str], GitRepo]) -> Repo:
    r = make_repo("app")
    first = r.commit({"index.js": "console.log('hi')\n"}, "feat: first commit")
    r.git("checkout", "-q", "-b", "feature")
    feature = r.commit({"b.txt": "b\n"}, "feat: on a branch")
    r.git("checkout", "-q", "main")
    main = r.commit({"a.txt": "a\n"}, "fix: second commit\n\nbody text")
    return Repo(r.url, first, main, feature)


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
async def alpha(store: SqlStore) -> h.Tenant:
    return await h.make_tenant(store, "alpha")


@pytest.fixture
async def beta(store: SqlStore) -> h.Tenant:
    return await h.make_tenant(store, "beta")


@pytest.fixture
async def app_a(client: httpx.AsyncClient, alpha: h.Tenant, repo: Repo) -> dict[str, object]:
    return await h.create_app_via_api(client, alpha, repo.url)
