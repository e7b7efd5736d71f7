"""The Deploy API over a real SQLite store and a real git repository; the builder, runtime
and router are null implementations (nothing is built or run in these tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import api_helpers as h
import httpx
import pytest

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
async def alpha(store: SqlStore) -> h.Tenant:
    return await h.make_tenant(store, "alpha")


@pytest.fixture
async def beta(store: SqlStore) -> h.Tenant:
    return await h.make_tenant(store, "beta")


@pytest.fixture
async def app_a(client: httpx.AsyncClient, alpha: h.Tenant, repo: Repo) -> dict[str, object]:
    return await h.create_app_via_api(client, alpha, repo.url)
