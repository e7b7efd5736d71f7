"""The Deploy API in-process over a real SQLite store and real git repositories, with two
workspaces ("alpha" and "beta") that each own an app, deployments, a revision with traffic,
log lines and two API keys. Builder, runtime and router are the null ones of the API tests:
nothing here builds or runs an app."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.security.tenants import Tenant, make_tenant

from slipway.store import SqlStore

if TYPE_CHECKING:
    from tests.conftest import GitRepo


@pytest.fixture
def git_url(make_repo: Callable[[str], GitRepo]) -> str:
    repo = make_repo("app")
    repo.commit({"app.py": "print('hi')\n"}, "feat: first")
    return repo.url


@pytest.fixture
async def alpha(store: SqlStore, client: httpx.AsyncClient, git_url: str) -> Tenant:
    return await make_tenant(store, client, name="alpha", git_url=git_url)


@pytest.fixture
async def beta(store: SqlStore, client: httpx.AsyncClient, git_url: str) -> Tenant:
    return await make_tenant(store, client, name="beta", git_url=git_url)
