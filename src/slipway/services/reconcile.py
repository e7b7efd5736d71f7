"""Make the runtime and the router match what the store says an app should run.

`reconcile_app` is level-triggered, in Knative's manner: it reads the desired state (traffic
splits, the app's replica count) and brings the world to it, whatever happened before. The
deploy pipeline, scaling, traffic changes and start-up all end by calling it. Its phases, in
order, are what keeps a change from dropping requests (CONTRACT §6):

1. `_scale`: every revision that should run gets its share of replicas (a retirement in
   progress is called off first). New replicas join the routes only once healthy (the
   runtime's readiness changes re-sync the routes); surplus ones are drained by the
   runtime's drain gate before they stop (`RouteSyncer.drain_gate`).
2. `sync_routes`: the route table is rebuilt whole and applied atomically.
3. `_retire`: revisions left with no share leave only now, drained in the background.

`warm` is the step a traffic change takes *before* it is stored: the revisions that are to
get traffic are started and must pass their health check first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Revision, TrafficSplit, Workspace
from slipway.domain.replicas import share_replicas
from slipway.ports import RevisionSpec
from slipway.services.platform import Platform
from slipway.services.routing import revision_key, sync_routes

log = logging.getLogger(__name__)


async def revision_spec(platform: Platform, app: App, rev: Revision) -> RevisionSpec | None:
    """What the runtime needs to run `rev` of `app`, or None when its image is gone."""
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
        app_serial=app.serial,
        memory_mb=rev.memory_mb,
    )


async def reconcile_app(platform: Platform, workspace: Workspace, app: App) -> None:
    async with platform.app_lock(app.id):
        await reconcile_locked(platform, workspace, app)


async def reconcile_locked(platform: Platform, workspace: Workspace, app: App) -> None:
    """`reconcile_app` for a caller that already holds the app's lock."""
    splits = await platform.store.scoped(workspace.id).traffic.get(app.id)
    desired = share_replicas(app.replicas, splits)
    revisions = await platform.store.scoped(workspace.id).revisions.list(app.id)
    await _scale(platform, app, revisions, desired)
    await sync_routes(platform, workspace, app)
    _retire(platform, revisions, desired)


async def _scale(
    platform: Platform, app: App, revisions: Sequence[Revision], desired: dict[str, int]
) -> None:
    for rev in revisions:
        count = desired.get(rev.name, 0)
        if count <= 0:
            continue
        spec = await revision_spec(platform, app, rev)
        if spec is None:
            log.warning("image of revision %s is missing; it cannot run", rev.name)
            continue
        await platform.retirements.keep(spec.key)
        await platform.runtime.scale(spec, count)


def _retire(platform: Platform, revisions: Sequence[Revision], desired: dict[str, int]) -> None:
    for rev in revisions:
        key = revision_key(rev.workspace_id, rev.app_id, rev.name)
        if desired.get(rev.name, 0) > 0 or key in platform.launching:
            continue
        if platform.runtime.status(key).total > 0:
            platform.retirements.start(
                key,
                runtime=platform.runtime,
                router=platform.router,
                limit=platform.settings.drain_seconds,
            )


async def warm(platform: Platform, app: App, splits: Sequence[TrafficSplit]) -> None:
    """Start the revisions `splits` give replicas to, and wait until each has one healthy
    replica; DeployFailed (naming the revision) when one cannot. Never scales down: the
    surplus leaves after the routes changed, in `reconcile_locked`."""
    desired = share_replicas(app.replicas, splits)
    scoped = platform.store.scoped(app.workspace_id)
    started: list[str] = []
    try:
        for name, count in desired.items():
            rev = await scoped.revisions.get(app.id, name)
            spec = await revision_spec(platform, app, rev) if rev else None
            if count <= 0 or spec is None:
                if count > 0:
                    raise DeployFailed(f"the image of revision {name} is no longer on disk.")
                continue
            await platform.retirements.keep(spec.key)
            current = platform.runtime.status(spec.key).total
            if current == 0:
                started.append(spec.key)
            await platform.runtime.scale(spec, max(current, count))
        for name, count in desired.items():
            key = revision_key(app.workspace_id, app.id, name)
            await _wait_one(platform, key, name, count)
    except BaseException:
        for key in started:
            await platform.runtime.stop(key)
        raise


async def _wait_one(platform: Platform, key: str, name: str, count: int) -> None:
    if count <= 0:
        return
    try:
        timeout = platform.settings.health_timeout_seconds
        await platform.runtime.wait_ready(key, 1, timeout=timeout)
    except DeployFailed as exc:
        raise DeployFailed(f"revision {name} could not start: {exc}") from None


async def restore_all(platform: Platform) -> None:
    """At start-up: bring back every app that has traffic (after a restart or a crash)."""
    for workspace, app in await platform.store.serving_apps():
        try:
            await reconcile_app(platform, workspace, app)
        except Exception:
            log.exception("could not restore app %s", app.id)
