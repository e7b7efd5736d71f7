"""Helpers of the API tests (a module, so test files can import them by name): null
builder, runtime and router, and workspaces with their keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from tests.support.fakes import FakeRouter, FakeRuntime, ImageShelf

from slipway.ports import Store
from slipway.services.resources import keys


def null_runtime() -> FakeRuntime:
    """A runtime that starts nothing: the API tests run no replica."""
    runtime = FakeRuntime()
    runtime.faults.induce("scale", AssertionError("the API tests start no replica"))
    runtime.faults.induce("wait_ready", AssertionError("the API tests start no replica"))
    return runtime


def null_router() -> FakeRouter:
    return FakeRouter()


def null_builder() -> ImageShelf:
    """A builder that builds nothing (and finds no image)."""
    shelf = ImageShelf()
    shelf.faults.induce("build", AssertionError("the API tests build nothing"))
    return shelf


@dataclass
class Tenant:
    """A workspace and its first key, with the URLs and headers the tests need."""

    id: str
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.id}"


async def make_tenant(store: Store, name: str) -> Tenant:
    workspace, key = await keys.create_workspace(store, name)
    return Tenant(workspace.id, workspace.name, key)


async def create_app_via_api(
    client: httpx.AsyncClient, tenant: Tenant, git_url: str, name: str = "my-api", **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "gitUrl": git_url, **extra}
    r = await client.post(f"{tenant.base}/apps", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())
