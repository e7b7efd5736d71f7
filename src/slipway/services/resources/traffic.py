"""Revisions and their traffic: List Revisions, Set Traffic and Promote (CONTRACT §5).

A traffic change is checked whole (`slipway.domain.traffic`) and then applied under the
app's lock in the order that drops no request: the reconciler starts the revisions that are
to get traffic and they must pass their health check (`reconcile.warm`), the new list is
stored, the reconciler applies the route table and drains and stops the revisions left
without traffic in the background. The API answers once the new routes are live in the
router. Any error leaves the stored traffic and the routes as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slipway.domain.errors import Conflict, DeployFailed, NotFound, raise_if
from slipway.domain.models import App, Revision, TrafficSplit, utcnow
from slipway.domain.names import parse_revision_name
from slipway.domain.revisionkeys import revision_key
from slipway.domain.states import DeploymentStatus as S
from slipway.domain.traffic import promoted, split_problems
from slipway.services.platform import Platform
from slipway.services.resources.apps import get_app
from slipway.services.serving.reconcile import route_traffic, warm


@dataclass(frozen=True)
class RevisionView:
    name: str
    image_ref: str
    traffic_percent: int
    tag: str | None
    deployment_id: str
    ready: int
    total: int
    url: str | None  # the tag URL, where tagged
    created_at: datetime


@dataclass(frozen=True)
class TrafficResult:
    app_id: str
    splits: list[TrafficSplit]
    updated_at: datetime


async def list_revisions(platform: Platform, workspace_id: str, app_id: str) -> list[RevisionView]:
    """Every revision of the app, newest first, with its traffic and replicas."""
    app = await get_app(platform, workspace_id, app_id)
    scoped = platform.store.scoped(workspace_id)
    workspace = await platform.store.workspaces.get(workspace_id)
    by_name = {s.revision_name: s for s in await scoped.traffic.get(app.id)}
    views = []
    for rev in await scoped.revisions.list(app.id):
        split = by_name.get(rev.name)
        tag = split.tag if split else None
        status = platform.runtime.status(revision_key(workspace_id, app.id, rev.name))
        url = platform.tag_url(tag, app.name, workspace.name) if tag and workspace else None
        views.append(
            RevisionView(
                name=rev.name,
                image_ref=rev.image_ref,
                traffic_percent=split.percent if split else 0,
                tag=tag,
                deployment_id=rev.deployment_id,
                ready=status.ready,
                total=status.total,
                url=url,
                created_at=rev.created_at,
            )
        )
    return views


async def _eligibility(platform: Platform, app: App) -> dict[str, str | None]:
    """Each revision of the app → None when it may take traffic, else why not."""
    scoped = platform.store.scoped(app.workspace_id)
    eligible: dict[str, str | None] = {}
    for rev in await scoped.revisions.list(app.id):
        dep = await scoped.deployments.get(rev.deployment_id)
        if dep is None or dep.status is S.FAILED:
            eligible[rev.name] = "belongs to a failed deployment"
        elif dep.status is S.CANCELLED:
            eligible[rev.name] = "belongs to a cancelled deployment"
        else:
            eligible[rev.name] = None
    return eligible


async def set_traffic(
    platform: Platform, workspace_id: str, app_id: str, splits: Sequence[TrafficSplit]
) -> TrafficResult:
    """Check and apply a whole traffic list; Invalid (422) lists every problem."""
    app = await get_app(platform, workspace_id, app_id)
    raise_if(split_problems(splits, eligible=await _eligibility(platform, app)))
    await apply_traffic(platform, app, list(splits))
    return TrafficResult(app.id, list(splits), utcnow())


async def promote(platform: Platform, workspace_id: str, revision_name: str) -> TrafficResult:
    """100% to the revision, every other split and tag removed. The revision's name gives its
    app (through the workspace's app names): NotFound when there is no such revision here,
    Conflict when its deployment failed or was cancelled."""
    rev = await _find_revision(platform, workspace_id, revision_name)
    app = await get_app(platform, workspace_id, rev.app_id)
    reason = (await _eligibility(platform, app)).get(rev.name)
    if reason is not None:
        raise Conflict(f"revision {rev.name} cannot take traffic: it {reason}")
    splits = promoted(rev.name)
    await apply_traffic(platform, app, splits)
    return TrafficResult(app.id, splits, utcnow())


async def _find_revision(platform: Platform, workspace_id: str, name: str) -> Revision:
    parsed = parse_revision_name(name)
    rev = None
    if parsed is not None:
        scoped = platform.store.scoped(workspace_id)
        app = await scoped.apps.get_by_name(parsed[0])
        rev = await scoped.revisions.get(app.id, name) if app else None
    if rev is None:
        raise NotFound(f"revision {name} not found" if parsed else "revision not found")
    return rev


async def apply_traffic(platform: Platform, app: App, splits: list[TrafficSplit]) -> None:
    """Warm, store, route, retire — under the app's lock. Conflict when a revision that is
    to get traffic cannot start; nothing changed then."""
    workspace = await platform.store.workspaces.get(app.workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    async with platform.app_lock(app.id):
        current = await platform.store.scoped(app.workspace_id).apps.get(app.id)
        if current is None:
            raise NotFound(f"app {app.id} not found")
        try:
            await warm(platform, workspace, current, splits)
        except DeployFailed as exc:
            raise Conflict(f"traffic was not changed: {exc}") from None
        before = await platform.store.scoped(app.workspace_id).traffic.get(app.id)
        await route_traffic(platform, workspace, current, splits, before=before)
