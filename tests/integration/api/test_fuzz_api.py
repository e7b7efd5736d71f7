"""Random JSON bodies never make the API answer 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import api_helpers as h
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.api import create_app
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore

FIELDS = [
    "name", "gitUrl", "gitBranch", "rootDirectory", "buildpack", "startCommand", "env",
    "healthCheckPath", "minReplicas", "maxReplicas", "replicas", "appId", "gitCommitSha",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), values, max_size=6) | values


class Env:
    def __init__(self, tmp: Path) -> None:
        self.runner = asyncio.Runner()
        self.store = SqlStore(f"sqlite:///{tmp / 'fuzz.db'}")
        self.runner.run(self.store.migrate())
        self.tenant = self.runner.run(h.make_tenant(self.store, "fuzz"))
        platform = Platform(
            store=self.store,
            source=GitSource(tmp / "cache", local=LocalRepos(anywhere=True)),
            builder=h.null_builder(),
            runtime=h.null_runtime(),
            router=h.null_router(),
            settings=Settings(local_git=LocalRepos(anywhere=True)),
        )
        transport = httpx.ASGITransport(app=create_app(platform))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://fuzz.test")

    def post(self, path: str, body: Any) -> int:
        url = f"{self.tenant.base}{path}"
        r = self.runner.run(self.client.post(url, json=body, headers=self.tenant.headers))
        return r.status_code

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.store.close())
        self.runner.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_random_app_bodies_never_5xx(env: Env, body: Any) -> None:
    status = env.post("/apps", body)
    assert status < 500
    assert status in (201, 400, 409, 422)


DOMAIN_FIELDS = ["hostname", "tag"]
hostnames = st.from_regex(r"\A[a-zA-Z0-9*.\-_ :\[\]]{0,80}\Z") | st.text(max_size=40)
domain_bodies = (
    st.fixed_dictionaries({"hostname": hostnames}, optional={"tag": values})
    | st.dictionaries(st.sampled_from(DOMAIN_FIELDS) | st.text(max_size=5), values, max_size=3)
    | values
)


@pytest.fixture
def domains_path(env: Env) -> str:
    created = env.runner.run(
        env.client.post(
            f"{env.tenant.base}/apps",
            json={"name": "web", "gitUrl": "https://example.com/web.git"},
            headers=env.tenant.headers,
        )
    )
    return f"/apps/{created.json()['id']}/domains"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=domain_bodies)
def test_random_domain_bodies_never_5xx(env: Env, domains_path: str, body: Any) -> None:
    status = env.post(domains_path, body)
    assert status in (201, 400, 409, 422)
