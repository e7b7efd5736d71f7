"""Make the runtime and the router match what the store says an app should run.

`reconcile_app` is level-triggered, in Knative's manner: it reads the desired state (traffic
splits, the app's replica count) and brings the world to it, whatever happened before. The
deploy pipeline, scaling, traffic changes and start-up all end by calling it.
"""

from __future__ import annotations

import logging

from slipway.domain.models import App, Revision, Workspace
from slipway.domain.replicas import share_replicas
from slipway.ports import RevisionSpec
from slipway.services.platform import Platform
from slipway.services.routing import revision_key, sync_routes

log = logging.getLogger(__name__)


async def revision_spec(platform: Platform, rev: Revision) -> RevisionSpec | None:
    """What the runtime needs to run `rev`, or None when its image is gone from disk."""
    image = await platform.builder.find_image(rev.image_digest)
    if image is None:
        return None
    return RevisionSpec(
        key=revision_key(rev.workspace_id, rev.app_id, rev.name),
        workspace_id=rev.workspace_id,
        app_id=rev.app_id,
        revision=rev.name,
        app_dir=image.app_dir,
        start_command=rev.start_command,
        env=dict(rev.env),
        health_check_path=rev.health_check_path,
    )


async def reconcile_app(platform: Platform, workspace: Workspace, app: App) -> None:
    async with platform.app_lock(app.id):
        scoped = platform.store.scoped(workspace.id)
        splits = await scoped.traffic.get(app.id)
        desired = share_replicas(app.replicas, splits)
        revisions = await scoped.revisions.list(app.id)
        for rev in revisions:
            count = desired.get(rev.name, 0)
            if count > 0:
                spec = await revision_spec(platform, rev)
                if spec is None:
                    log.warning("image of revision %s is missing; it cannot run", rev.name)
                    continue
                await platform.runtime.scale(spec, count)
        await sync_routes(platform, workspace, app)
        for rev in revisions:
            key = revision_key(workspace.id, app.id, rev.name)
            if desired.get(rev.name, 0) == 0 and platform.runtime.status(key).total > 0:
                platform.spawn(retire(platform, key))


async def retire(platform: Platform, key: str) -> None:
    """Take a revision's replicas out of the routes, let in-flight requests finish, stop."""
    await platform.runtime.stop(key, drain_seconds=platform.settings.drain_seconds)


async def restore_all(platform: Platform) -> None:
    """At start-up: bring back every app that has traffic (after a restart or a crash)."""
    for workspace, app in await platform.store.serving_apps():
        try:
            await reconcile_app(platform, workspace, app)
        except Exception:
            log.exception("could not restore app %s", app.id)
