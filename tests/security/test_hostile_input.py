"""Hypothesis throws hostile strings at every field that reaches git, a path or a process,
through the domain validators and through the HTTP API: always a 4xx, never a side effect
(no object created or changed, no git process started, no marker file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.security.hostile import MARKER, ascii_printable, hostile_strings
from tests.security.openapi_cases import operations
from tests.security.tenants import Tenant, h, make_tenant, snapshot

from slipway.api import create_app
from slipway.api.limits import ApiLimits
from slipway.builder.source import GitSource, root_subpath
from slipway.domain import names
from slipway.domain.errors import DeployFailed, Invalid
from slipway.domain.giturls import LocalRepos, check_git_url
from slipway.services.platform import Platform, Settings
from slipway.services.resources import keys
from slipway.store import SqlStore

API = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
APP_FIELDS = ["name", "gitUrl", "gitBranch", "rootDirectory", "healthCheckPath"]
PATH_OPS = [op for op in operations() if any(p["in"] == "path" for p in op.params("path"))]


class Env:
    """The API over a real store and git source, in a loop of its own (hypothesis is sync)."""

    def __init__(self, tmp: Path, git_url: str) -> None:
        self.runner = asyncio.Runner()
        self.cache = tmp / "git-cache"
        self.store = SqlStore(f"sqlite:///{tmp / 'hostile.db'}")
        self.runner.run(self.store.migrate())
        platform = Platform(
            store=self.store,
            source=GitSource(self.cache, local=LocalRepos(anywhere=True)),
            builder=h.null_builder(),
            runtime=h.null_runtime(),
            router=h.null_router(),
            settings=Settings(local_git=LocalRepos(anywhere=True)),
        )
        # hundreds of requests with one key: the rate limit is test_limits.py's subject
        app = create_app(platform, limits=ApiLimits(rate_burst=0))
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://hostile.test")
        self.git_url = git_url
        self.tenant: Tenant = self.runner.run(
            make_tenant(self.store, self.client, name="victim", git_url=git_url)
        )

    def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {**self.tenant.headers, **kw.pop("headers", {})}
        return self.runner.run(self.client.request(method, url, headers=headers, **kw))

    def state(self) -> tuple[dict[str, Any], list[str]]:
        cache = sorted(p.name for p in self.cache.iterdir()) if self.cache.exists() else []
        state = self.runner.run(snapshot(self.store, self.tenant.ws_id))
        for key in state["keys"]:
            key.pop("last_used_at")  # the key these tests call with
        return state, cache

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.store.close())
        self.runner.close()


@pytest.fixture
def env(tmp_path: Path, git_url: str) -> Iterator[Env]:
    e = Env(tmp_path, git_url)
    yield e
    e.close()


def _assert_rejected(env: Env, before: tuple[dict[str, Any], list[str]], r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code != 401
    assert env.state() == before
    assert not MARKER.exists()


# --------------------------------------------------------------------------- domain


@settings(max_examples=300, deadline=None)
@given(value=hostile_strings())
def test_validators_refuse_hostile_values(value: str) -> None:
    for check in (
        lambda: names.check_label("name", value),
        lambda: names.check_branch("gitBranch", value),
        lambda: names.check_sha("gitCommitSha", value),
        lambda: check_git_url("gitUrl", value, local=LocalRepos(anywhere=True)),
    ):
        with pytest.raises(Invalid):
            check()
    assert not keys.is_well_formed(value)
    if value.startswith("/") or ".." in value or not value.isascii():
        with pytest.raises(DeployFailed):
            root_subpath(value)


# --------------------------------------------------------------------------- API


@API
@given(field=st.sampled_from(APP_FIELDS), value=hostile_strings())
def test_creating_an_app_with_a_hostile_field(env: Env, field: str, value: str) -> None:
    body = {"name": "fresh", "gitUrl": env.git_url, field: value}
    before = env.state()
    _assert_rejected(env, before, env.call("POST", f"{env.tenant.base}/apps", json=body))


@API
@given(field=st.sampled_from(APP_FIELDS), value=hostile_strings())
def test_updating_an_app_with_a_hostile_field(env: Env, field: str, value: str) -> None:
    url = f"{env.tenant.base}/apps/{env.tenant.app_id}"
    before = env.state()
    _assert_rejected(env, before, env.call("PATCH", url, json={field: value}))


@API
@given(field=st.sampled_from(["gitBranch", "gitCommitSha"]), value=hostile_strings())
def test_triggering_a_deploy_with_a_hostile_ref(env: Env, field: str, value: str) -> None:
    body = {"appId": env.tenant.app_id, field: value}
    before = env.state()
    _assert_rejected(env, before, env.call("POST", f"{env.tenant.base}/deploy", json=body))


@API
@given(value=hostile_strings())
def test_naming_an_api_key_with_a_hostile_name(env: Env, value: str) -> None:
    before = env.state()
    r = env.call("POST", f"{env.tenant.base}/api-keys", json={"name": value})
    _assert_rejected(env, before, r)


@API
@given(op=st.sampled_from(PATH_OPS), value=hostile_strings(), data=st.data())
def test_hostile_ids_in_the_path(env: Env, op: Any, value: str, data: st.DataObject) -> None:
    """Any path parameter but wsId (that one is the next test's) gets the hostile value."""
    names_ = [p["name"] for p in op.params("path") if p["name"] != "wsId"]
    if not names_:
        names_ = ["wsId"]
    target = data.draw(st.sampled_from(names_))
    url = op.path.replace("{" + target + "}", quote(value, ""))
    url = url.replace("{wsId}", env.tenant.ws_id)
    for other in names_:
        url = url.replace("{" + other + "}", "x")
    before = env.state()
    _assert_rejected(env, before, env.call(op.method, url, json={}))


@API
@given(value=hostile_strings())
def test_hostile_query_values(env: Env, value: str) -> None:
    before = env.state()
    for name in ("appId", "status", "page", "limit"):
        params = {"appId": env.tenant.app_id, name: value}
        _assert_rejected(env, before, env.call("GET", f"{env.tenant.base}/deploy", params=params))


@API
@given(value=hostile_strings().filter(ascii_printable))
def test_hostile_bearer_tokens_are_401(env: Env, value: str) -> None:
    before = env.state()
    for token in (value, "dor_sk_" + value):
        r = env.call("GET", f"{env.tenant.base}/apps", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    assert env.state() == before
