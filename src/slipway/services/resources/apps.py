"""Apps: create, read, list, update (PATCH: only the given fields) and delete (CONTRACT §4).

Decisions where the contract is silent:
- `name` cannot change after creation (as a Cloud Run service's): revisions, routes and the
  app's URL are named after it. A PATCH that gives the current name is accepted.
- An empty string for an optional command or `rootDirectory` clears it, like `null`.
- A PATCH only stores desired state (`replicas`, `env`, ...); the next deployment or the
  reconciler acts on it.
- Deleting cancels the app's active deployments, removes the app's routes, drains and
  stops every replica of every revision (the reconciler's `forget_app`: requests in flight
  finish, within the drain limit), then deletes the app with everything it owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from slipway.domain.errors import FieldError, NotFound, raise_if
from slipway.domain.ids import is_id, new_id
from slipway.domain.models import App, utcnow
from slipway.domain.states import DeploymentStatus, can_transition
from slipway.services.platform import Platform
from slipway.services.resources.appfields import check_fields, check_replica_bounds
from slipway.services.resources.paging import Page, offset_of, page_problems
from slipway.services.serving.reconcile import forget_app, routes_changed

REQUIRED = ("name", "git_url")
# Every status that may become `cancelled`, in pipeline order (the enum's).
_ACTIVE = [s for s in DeploymentStatus if can_transition(s, DeploymentStatus.CANCELLED)]


async def create_app(platform: Platform, workspace_id: str, fields: Mapping[str, object]) -> App:
    """`fields` are keyed by `App` attribute name. Conflict when the name is taken."""
    missing = [
        FieldError("gitUrl" if f == "git_url" else f, "is required")
        for f in REQUIRED
        if fields.get(f) is None
    ]
    raise_if(missing)
    cleaned = check_fields(fields, local=platform.settings.local_git)
    now = utcnow()
    app = App(
        id=new_id("app"),
        workspace_id=workspace_id,
        name=str(cleaned.pop("name")),
        git_url=str(cleaned.pop("git_url")),
        created_at=now,
        updated_at=now,
    )
    app = replace(app, **cleaned)
    check_replica_bounds(app.min_replicas, app.max_replicas)
    return await platform.store.scoped(workspace_id).apps.create(app)


async def get_app(platform: Platform, workspace_id: str, app_id: str) -> App:
    app = None
    if is_id(app_id, "app"):
        app = await platform.store.scoped(workspace_id).apps.get(app_id)
    if app is None:
        raise NotFound(f"app {app_id} not found" if is_id(app_id, "app") else "app not found")
    return app


async def list_apps(platform: Platform, workspace_id: str, *, page: int, limit: int) -> Page[App]:
    raise_if(page_problems(page, limit))
    apps, total = await platform.store.scoped(workspace_id).apps.list(
        offset=offset_of(page, limit), limit=limit
    )
    return Page(items=apps, total=total, page=page, limit=limit)


async def update_app(
    platform: Platform, workspace_id: str, app_id: str, fields: Mapping[str, object]
) -> App:
    """Change only the given fields. Invalid lists every bad one; nothing changes then."""
    app = await get_app(platform, workspace_id, app_id)
    cleaned = check_fields(fields, local=platform.settings.local_git)
    if "name" in cleaned and cleaned["name"] != app.name:
        raise_if([FieldError("name", "cannot be changed after creation")])
    if not cleaned:
        return app
    updated = replace(app, **cleaned, updated_at=utcnow())
    check_replica_bounds(updated.min_replicas, updated.max_replicas)
    await platform.store.scoped(workspace_id).apps.update(updated)
    if updated.https_only != app.https_only:  # the redirects change at once
        workspace = await platform.store.workspaces.get(workspace_id)
        if workspace is not None:
            await routes_changed(platform, workspace, updated)
    return updated


async def delete_app(platform: Platform, workspace_id: str, app_id: str) -> None:
    app = await get_app(platform, workspace_id, app_id)
    scoped = platform.store.scoped(workspace_id)
    await _cancel_active(platform, workspace_id, app.id)

    domains = await scoped.domains.list(app.id)

    async def delete() -> None:
        await scoped.apps.delete(app.id)

    async with platform.app_lock(app.id):
        await forget_app(platform, app, delete)
    if platform.certificates is not None:  # its custom domains' certificates go with it
        for domain in domains:
            platform.certificates.files.prune(domain.hostname, keep=None)


async def _cancel_active(platform: Platform, workspace_id: str, app_id: str) -> None:
    """Mark the app's unfinished deployments cancelled so the worker stops their builds."""
    deployments = platform.store.scoped(workspace_id).deployments
    cancelled = False
    for status in _ACTIVE:  # in pipeline order, so one that moves on is met again
        found, _ = await deployments.list(app_id=app_id, status=status, offset=0, limit=100)
        for dep in found:
            done = replace(dep, status=DeploymentStatus.CANCELLED, finished_at=utcnow())
            cancelled |= await deployments.update(done, expect=frozenset({status}))
    if cancelled:
        platform.wake.set()
