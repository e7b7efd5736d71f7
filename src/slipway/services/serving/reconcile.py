"""The reconciler: the one writer of the runtime and the router.

Everything else writes *desired* state to the store (the traffic list, the app's replica
count, a rollout's `rollout_replicas`) or, for a traffic change not yet stored, to
`platform.warming`; then it asks this module to act and waits on a condition (replicas
ready, routes live). Only this module starts, scales, drains and stops replicas
(`runtime.scale`/`runtime.stop`) and only it pushes route tables (`router.set_routes`,
`router.remove_app`). Bootstrap's shutdown (`runtime.close`) is the one other stop.

`reconcile_app` is level-triggered, in Knative's manner: it reads the desired state and
brings the world to it, whatever happened before. Its phases, in order, are what keeps a
change from dropping requests (CONTRACT §6):

1. `_scale`: every revision that should run gets its count (`domain.replicas.
   desired_replicas`; a retirement in progress is called off first). New replicas join the
   routes only once healthy; surplus ones are drained by the runtime's drain gate
   (`RouteSyncer.drain_gate`) before they stop.
2. `sync_routes`: the route table (`routing.build_routes`) is rebuilt whole and applied.
3. `_retire`: revisions that should not run leave only now, drained in the background.

What wakes it: the use cases that changed desired state (deploy, scale, Set Traffic,
Promote, delete, a failed or cancelled rollout), the runtime's readiness events
(`RouteSyncer`: routes only), and the recovery loop's resync of every app every few seconds
in the replica owner (`recovery.py`), which also restarts what a dead process left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence

from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Revision, TrafficSplit, Workspace
from slipway.domain.replicacounts import desired_replicas, share_replicas
from slipway.domain.revisionkeys import parse_revision_key, revision_key
from slipway.domain.states import DeploymentStatus as S
from slipway.ports import RevisionSpec
from slipway.services.platform import Platform
from slipway.services.platform.draining import wait_drained
from slipway.services.serving.routing import build_routes

log = logging.getLogger(__name__)

RESYNC_ROUTES_SECONDS = 1.0
ROLLOUTS_READ = 100  # active deployments of one app read per pass: one runs at a time


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


async def desired_for(platform: Platform, app: App) -> dict[str, int]:
    """Replicas per revision of `app`, as the store (and this process's warming) says."""
    scoped = platform.store.scoped(app.workspace_id)
    splits = await scoped.traffic.get(app.id)
    deploying, _ = await scoped.deployments.list(
        app_id=app.id, status=S.DEPLOYING, offset=0, limit=ROLLOUTS_READ
    )
    rollouts = {
        d.revision_name: d.rollout_replicas
        for d in deploying
        if d.revision_name and d.rollout_replicas
    }
    return desired_replicas(
        app.replicas, splits, rollouts=rollouts, warming=platform.warming.get(app.id)
    )


async def reconcile_app(platform: Platform, workspace: Workspace, app: App) -> None:
    async with platform.app_lock(app.id):
        await reconcile_locked(platform, workspace, app)


async def reconcile_locked(platform: Platform, workspace: Workspace, app: App) -> None:
    """`reconcile_app` for a caller that already holds the app's lock."""
    desired = await desired_for(platform, app)
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
        if desired.get(rev.name, 0) <= 0 and platform.runtime.status(key).total > 0:
            _retire_one(platform, key)


def _retire_one(platform: Platform, key: str) -> None:
    platform.retirements.start(
        key,
        stop=platform.runtime.stop,
        router=platform.router,
        limit=platform.settings.drain_seconds,
    )


async def sync_routes(platform: Platform, workspace: Workspace, app: App) -> None:
    """Push the app's whole route table, built from the stored traffic and ready replicas,
    and wait until the router serves it."""
    splits = await platform.store.scoped(workspace.id).traffic.get(app.id)
    routes = build_routes(
        workspace=workspace,
        app=app,
        splits=splits,
        runtime=platform.runtime,
        base_domain=platform.settings.base_domain,
    )
    platform.router.set_routes(app.id, routes)
    await platform.router.settled()


async def forget_app(platform: Platform, app: App) -> None:
    """Before an app is deleted (caller holds its lock): its hosts stop routing, then every
    revision that runs is drained and stopped; returns once they have."""
    platform.router.remove_app(app.id)
    await platform.router.settled()  # the answer means its hosts no longer route
    keys = [
        revision_key(app.workspace_id, app.id, rev.name)
        for rev in await platform.store.scoped(app.workspace_id).revisions.list(app.id)
    ]
    for key in keys:
        if platform.runtime.status(key).total > 0:
            _retire_one(platform, key)
    await platform.retirements.wait(keys)


@contextlib.contextmanager
def _warming(platform: Platform, app_id: str, counts: dict[str, int]) -> Iterator[None]:
    platform.warming[app_id] = counts
    try:
        yield
    finally:
        platform.warming.pop(app_id, None)


async def warm(
    platform: Platform, workspace: Workspace, app: App, splits: Sequence[TrafficSplit]
) -> None:
    """Before a traffic change is stored (caller holds the app's lock): start the revisions
    `splits` give replicas to and wait until each has one healthy replica; DeployFailed
    (naming the revision) when one cannot, and then whatever was started for it leaves
    again. Never scales down: the surplus leaves after the routes changed."""
    wanted = {n: c for n, c in share_replicas(app.replicas, splits).items() if c > 0}
    scoped = platform.store.scoped(app.workspace_id)
    for name in wanted:
        rev = await scoped.revisions.get(app.id, name)
        if rev is None or await revision_spec(platform, app, rev) is None:
            raise DeployFailed(f"the image of revision {name} is no longer on disk.")
    try:
        with _warming(platform, app.id, wanted):
            await reconcile_locked(platform, workspace, app)
            for name in wanted:
                await _wait_one(platform, revision_key(app.workspace_id, app.id, name), name)
    except BaseException:
        await asyncio.shield(_unwarm(platform, workspace, app))
        raise


async def _unwarm(platform: Platform, workspace: Workspace, app: App) -> None:
    """After a failed warm: what it started and nothing stored wants leaves, at once."""
    await reconcile_locked(platform, workspace, app)
    revisions = await platform.store.scoped(app.workspace_id).revisions.list(app.id)
    await platform.retirements.wait(
        [revision_key(app.workspace_id, app.id, rev.name) for rev in revisions]
    )


async def _wait_one(platform: Platform, key: str, name: str) -> None:
    try:
        timeout = platform.settings.health_timeout_seconds
        await platform.runtime.wait_ready(key, 1, timeout=timeout)
    except DeployFailed as exc:
        raise DeployFailed(f"revision {name} could not start: {exc}") from None


async def restore_all(platform: Platform) -> None:
    """Every app with traffic or a rollout, reconciled (at start-up and as a resync)."""
    for workspace, app in await platform.store.serving_apps():
        try:
            await reconcile_app(platform, workspace, app)
        except Exception:
            log.exception("could not restore app %s", app.id)


async def resync_routes(platform: Platform) -> None:
    """A router-role process that runs no replicas (several processes): every serving app's
    routes rebuilt every `RESYNC_ROUTES_SECONDS` from the store and the published replicas,
    so a traffic change made in another process is served within that time; the routes of
    apps that stopped serving (deleted elsewhere) are dropped. Until cancelled."""
    served: set[str] = set()
    while True:
        try:
            now: set[str] = set()
            for workspace, app in await platform.store.serving_apps():
                await sync_routes(platform, workspace, app)
                now.add(app.id)
            for app_id in served - now:
                platform.router.remove_app(app_id)
            served = now
        except Exception:
            log.exception("route resync failed")
        await asyncio.sleep(RESYNC_ROUTES_SECONDS)


class RouteSyncer:
    """The runtime's events, into the reconciler: routes re-synced whenever a revision's
    ready replicas change, and the drain gate of a scale-down."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._pending: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self) -> None:
        self._platform.runtime.on_change(self.replicas_changed)
        self._platform.runtime.set_drain_gate(self.drain_gate)

    async def drain_gate(self, key: str) -> None:
        """Routes without the replicas being removed from revision `key`, then no request of
        it in flight (or the drain limit), then the runtime may stop them."""
        parsed = parse_revision_key(key)
        if parsed is not None:
            await self._sync(parsed.workspace_id, parsed.app_id)
        limit = self._platform.settings.drain_seconds
        if not await wait_drained(self._platform.router, key, timeout=limit):
            log.warning("%s still had requests in flight after %gs; scaling down", key, limit)

    def replicas_changed(self, key: str) -> None:
        parsed = parse_revision_key(key)
        if parsed is None:
            return
        app = (parsed.workspace_id, parsed.app_id)
        if app in self._pending:
            return
        self._pending.add(app)
        task = asyncio.get_running_loop().create_task(self._sync(*app))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync(self, workspace_id: str, app_id: str) -> None:
        self._pending.discard((workspace_id, app_id))
        try:
            workspace = await self._platform.store.workspaces.get(workspace_id)
            app = await self._platform.store.scoped(workspace_id).apps.get(app_id)
            if workspace is not None and app is not None:
                await sync_routes(self._platform, workspace, app)
        except Exception:  # the syncer must outlive any one failure
            log.exception("route sync failed for app %s", app_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
