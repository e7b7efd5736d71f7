"""Two workspaces full of real objects, and a snapshot of everything one of them owns.

Apps and keys are made through the API; a succeeded deployment with its revision, traffic
and log lines, plus a queued deployment, are written through the store (building them for
real is the e2e suite's job; here the rows are what matters). App names differ between the
workspaces, so B's revision names mean nothing in A.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.integration.api import api_helpers as h

from slipway.domain.ids import new_id
from slipway.domain.models import Deployment, Revision, TrafficSplit, utcnow
from slipway.domain.states import DeploymentStatus
from slipway.ports import Store
from slipway.services.resources import keys

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Tenant:
    """A workspace with an app, two deployments, a revision and a second API key."""

    ws_id: str
    ws_name: str
    key: str
    app_id: str = ""
    app_name: str = ""
    succeeded_id: str = ""
    queued_id: str = ""
    revision_name: str = ""
    key_id: str = ""
    domain_id: str = ""
    hostname: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.ws_id}"


async def _deployment(store: Store, t: Tenant, status: DeploymentStatus) -> Deployment:
    now = utcnow()
    dep = Deployment(
        id=new_id("dep"),
        workspace_id=t.ws_id,
        app_id=t.app_id,
        status=status,
        created_at=now,
        git_branch="main",
        git_commit_sha=SHA,
        git_commit_message="feat: first",
        started_at=now if status.terminal else None,
        finished_at=now if status.terminal else None,
    )
    await store.scoped(t.ws_id).deployments.create(dep)
    return dep


async def _revision(store: Store, t: Tenant, dep: Deployment) -> Revision:
    rev = Revision(
        workspace_id=t.ws_id,
        app_id=t.app_id,
        name="",
        number=0,
        deployment_id=dep.id,
        image_ref=f"local/{t.ws_name}/{t.app_name}:sha256-0123456789ab",
        image_digest="sha256:" + "0" * 64,
        start_command="python app.py",
        env={"SECRET_TOKEN": "s3cr3t-value"},
        health_check_path=None,
        created_at=utcnow(),
    )
    return await store.scoped(t.ws_id).revisions.create(rev)


async def make_tenant(
    store: Store, client: httpx.AsyncClient, *, name: str, git_url: str
) -> Tenant:
    workspace, key = await keys.create_workspace(store, name)
    t = Tenant(workspace.id, workspace.name, key)
    body = {"name": f"{name}-app", "gitUrl": git_url, "env": {"SECRET_TOKEN": "s3cr3t-value"}}
    r = await client.post(f"{t.base}/apps", json=body, headers=t.headers)
    assert r.status_code == 201, r.text
    t.app_id, t.app_name = r.json()["id"], r.json()["name"]
    r = await client.post(f"{t.base}/api-keys", json={"name": "second"}, headers=t.headers)
    assert r.status_code == 201, r.text
    t.key_id = r.json()["id"]
    scoped = store.scoped(t.ws_id)
    done = await _deployment(store, t, DeploymentStatus.SUCCEEDED)
    rev = await _revision(store, t, done)
    done.revision_name, done.image_ref = rev.name, rev.image_ref
    await scoped.deployments.update(done)
    await scoped.traffic.set(t.app_id, [TrafficSplit(rev.name, 100, "stable")])
    await scoped.logs.append(done.id, 0, ["[build] step one", "[build] done"])
    t.succeeded_id, t.revision_name = done.id, rev.name
    t.queued_id = (await _deployment(store, t, DeploymentStatus.QUEUED)).id
    r = await client.post(
        f"{t.base}/apps/{t.app_id}/domains",
        json={"hostname": f"{name}.example.com"},
        headers=t.headers,
    )
    assert r.status_code == 201, r.text
    t.domain_id, t.hostname = r.json()["id"], r.json()["hostname"]
    return t


async def snapshot(store: Store, ws_id: str) -> dict[str, Any]:
    """Everything the workspace owns, as plain comparable values."""
    scoped = store.scoped(ws_id)
    apps, _ = await scoped.apps.list(offset=0, limit=1000)
    out: dict[str, Any] = {"keys": [vars(k) for k in await scoped.api_keys.list()], "apps": {}}
    for app in apps:
        deps, _ = await scoped.deployments.list(app_id=app.id, status=None, offset=0, limit=1000)
        out["apps"][app.id] = {
            "app": vars(app),
            "deployments": [vars(d) for d in deps],
            "logs": {d.id: await scoped.logs.list(d.id) for d in deps},
            "revisions": [vars(r) for r in await scoped.revisions.list(app.id)],
            "traffic": await scoped.traffic.get(app.id),
            "domains": [vars(d) for d in await scoped.domains.list(app.id)],
        }
    return out


__all__ = ["SHA", "Tenant", "h", "make_tenant", "snapshot"]
