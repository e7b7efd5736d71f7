"""Helpers of the API tests (a module, so test files can import them by name): null
builder, runtime and router, and workspaces with their keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from slipway.domain.models import App, Commit, Image, Workspace
from slipway.domain.routes import Route
from slipway.ports import LogSink, ReplicaStatus, RevisionSpec, Store
from slipway.services import keys


class NullRuntime:
    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.statuses: dict[str, ReplicaStatus] = {}

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        raise AssertionError("the API tests start no replica")

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        raise AssertionError("the API tests start no replica")

    def status(self, key: str) -> ReplicaStatus:
        return self.statuses.get(key, ReplicaStatus(0, 0, ()))

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        self.stopped.append(key)

    def on_change(self, callback: Callable[[str], None]) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class NullRouter:
    routes: dict[str, list[Route]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def set_routes(self, app_id: str, routes: list[Route]) -> None:
        self.routes[app_id] = list(routes)

    def remove_app(self, app_id: str) -> None:
        self.removed.append(app_id)

    def in_flight(self, revision_key: str) -> int:
        return 0

    async def settled(self) -> None:
        pass

    async def metrics(self) -> bytes:
        return b""


class NullBuilder:
    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        raise AssertionError("the API tests build nothing")

    async def find_image(self, digest: str) -> Image | None:
        raise AssertionError("the API tests build nothing")


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
