"""Domain objects with valid defaults, for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slipway.domain.ids import new_id
from slipway.domain.models import ApiKey, App, Deployment, Revision, Workspace
from slipway.domain.states import DeploymentStatus
from slipway.store import SqlStore

T0 = datetime(2025, 4, 17, 12, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def workspace(store: SqlStore, name: str = "acme") -> Workspace:
    ws = Workspace(id=new_id("ws"), name=name, created_at=T0)
    await store.workspaces.create(ws)
    return ws


async def app(store: SqlStore, ws: Workspace, name: str = "web", **kw: Any) -> App:
    a = App(
        id=new_id("app"),
        workspace_id=ws.id,
        name=name,
        git_url="https://example.com/acme/web.git",
        created_at=T0,
        updated_at=T0,
        **kw,
    )
    return await store.scoped(ws.id).apps.create(a)


async def deployment(
    store: SqlStore,
    a: App,
    status: DeploymentStatus = DeploymentStatus.QUEUED,
    created: int = 0,
    **kw: Any,
) -> Deployment:
    dep = Deployment(
        id=new_id("dep"),
        workspace_id=a.workspace_id,
        app_id=a.id,
        status=status,
        created_at=at(created),
        **kw,
    )
    await store.scoped(a.workspace_id).deployments.create(dep)
    return dep


async def revision(store: SqlStore, dep: Deployment, **kw: Any) -> Revision:
    rev = Revision(
        workspace_id=dep.workspace_id,
        app_id=dep.app_id,
        name="",
        number=0,
        deployment_id=dep.id,
        image_ref="registry/acme/web:sha256-0123456789ab",
        image_digest="sha256:" + "0" * 64,
        start_command="node server.js",
        env=kw.pop("env", {"PORT": "8000"}),
        health_check_path="/healthz",
        created_at=T0,
        **kw,
    )
    return await store.scoped(dep.workspace_id).revisions.create(rev)


def api_key(ws: Workspace, name: str = "ci", key_hash: str | None = None) -> ApiKey:
    return ApiKey(
        id=new_id("key"),
        workspace_id=ws.id,
        name=name,
        prefix="dor_sk_abcd",
        key_hash=key_hash or new_id("key").ljust(64, "0"),
        created_at=T0,
    )
