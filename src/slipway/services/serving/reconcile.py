"""The reconciler: the one writer of the runtime and the router.

Everything else writes *desired* state to the store (the traffic list, the app's replica
count, a rollout's `rollout_replicas`, a traffic change's warm-up); then it asks this
module to act and waits on a condition (replicas ready, routes live). Only the process that
runs the replicas (`platform.owns_replicas()`) acts; any other one syncs its own routes and
asks the owner (NOTIFY on `RECONCILE_CHANNEL`). Only this module starts, scales, drains
and stops replicas (`runtime.scale`/`runtime.stop`) and only it pushes route tables
(`router.set_routes`, `router.remove_app`). Bootstrap's shutdown (`runtime.close`) is the
one other stop.

`reconcile_app` is level-triggered, in Knative's manner: it reads the desired state and
brings the world to it, whatever happened before. Its phases, in order, are what keeps a
change from dropping requests (CONTRACT §6):

1. `_scale`: every revision that should run gets its count (`domain.replicacounts.
   desired_replicas`; a retirement in progress is called off first). New replicas join the
   routes only once healthy; surplus ones are drained by the runtime's drain gate
   (`RouteSyncer.drain_gate`) before they stop.
2. `sync_routes`: the route table (`routing.build_routes`) is rebuilt whole and applied.
3. `_retire`: revisions that should not run leave only now, drained in the background.

What wakes it: the use cases that changed desired state (deploy, scale, Set Traffic,
Promote, delete, a failed or cancelled rollout), in this process or another one (NOTIFY,
`reconcile_soon`); the runtime's readiness events (`RouteSyncer`: routes only); and the
recovery loop's resync of every app every few seconds in the replica owner
(`deploy/recovery.py`), which also restarts what a dead process left and stops what no app
wants any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

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

RECONCILE_CHANNEL = "slipway_reconcile"  # NOTIFY payload: a revision key of the app ("-")
RESYNC_ROUTES_SECONDS = 1.0
WARMUP_MARGIN = 30.0  # a stored warm-up outlives its request's health timeout by this much
GONE_MARGIN = 10.0  # a deleting process waits this long past the drain limit
WAIT_POLL_SECONDS = 0.1
ROLLOUTS_READ = 100  # active deployments of one app read per pass: one runs at a time


async def revision_spec(
    platform: Platform,
    workspace: Workspace,
    app: App,
    rev: Revision,
    *,
    autoscale: tuple[int, int] | None = None,
) -> RevisionSpec | None:
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
        image_digest=image.digest,
        workspace_name=workspace.name,
        app_name=app.name,
        autoscale=autoscale,
    )


async def desired_for(
    platform: Platform, app: App, splits: Sequence[TrafficSplit]
) -> dict[str, int]:
    """Replicas per revision of `app` with traffic list `splits`, as the store says."""
    scoped = platform.store.scoped(app.workspace_id)
    deploying, _ = await scoped.deployments.list(
        app_id=app.id, status=S.DEPLOYING, offset=0, limit=ROLLOUTS_READ
    )
    rollouts = {
        d.revision_name: d.rollout_replicas
        for d in deploying
        if d.revision_name and d.rollout_replicas
    }
    warming = await scoped.warmups.get(app.id, now=datetime.now(UTC))
    return desired_replicas(app.replicas, splits, rollouts=rollouts, warming=warming)


async def reconcile_app(platform: Platform, workspace: Workspace, app: App) -> None:
    async with platform.app_lock(app.id):
        await reconcile_locked(platform, workspace, app)


async def reconcile_locked(platform: Platform, workspace: Workspace, app: App) -> None:
    """`reconcile_app` for a caller that already holds the app's lock. In a process that
    does not run the replicas (several processes), only this process's routes are synced
    and the replica owner is asked to reconcile the app (`ask_owner`)."""
    if not platform.owns_replicas():
        await sync_routes(platform, workspace, app)
        await ask_owner(platform, app.workspace_id, app.id)
        return
    scoped = platform.store.scoped(workspace.id)
    splits = await scoped.traffic.get(app.id)
    desired = await desired_for(platform, app, splits)
    revisions = await scoped.revisions.list(app.id)
    await _scale(platform, workspace, app, revisions, desired, primary=_primary(splits))
    await sync_routes(platform, workspace, app, splits)
    _retire(platform, revisions, desired)


def _primary(splits: Sequence[TrafficSplit]) -> str | None:
    """The revision that serves most of the traffic (the first listed of equals)."""
    routed = [s for s in splits if s.percent > 0]
    return max(routed, key=lambda s: s.percent).revision_name if routed else None


async def _scale(
    platform: Platform,
    workspace: Workspace,
    app: App,
    revisions: Sequence[Revision],
    desired: dict[str, int],
    *,
    primary: str | None,
) -> None:
    for rev in revisions:
        count = desired.get(rev.name, 0)
        if count <= 0:
            continue
        bounds = None
        if rev.name == primary and app.max_replicas is not None:
            bounds = (app.min_replicas, app.max_replicas)
        spec = await revision_spec(platform, workspace, app, rev, autoscale=bounds)
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


async def sync_routes(
    platform: Platform,
    workspace: Workspace,
    app: App,
    splits: Sequence[TrafficSplit] | None = None,
) -> None:
    """Push the app's whole route table, built from the stored traffic (`splits`, when the
    caller has just read them) and ready replicas, and wait until the router serves it."""
    if app.id in platform.deleted_apps:
        platform.router.remove_app(app.id)  # a sync that read the app before it went
        await platform.router.settled()
        return
    scoped = platform.store.scoped(workspace.id)
    if splits is None:
        splits = await scoped.traffic.get(app.id)
    routes = build_routes(
        workspace=workspace,
        app=app,
        splits=splits,
        runtime=platform.runtime,
        settings=platform.settings,
        domains=await scoped.domains.list(app.id),
    )
    platform.router.set_routes(app.id, routes)
    await platform.router.settled()


async def routes_changed(platform: Platform, workspace: Workspace, app: App) -> None:
    """Something only the routes read changed (a custom domain, its certificate or challenge,
    `httpsOnly`): push the app's routes here under its lock, then ask the other processes."""
    async with platform.app_lock(app.id):
        await sync_routes(platform, workspace, app)
    await ask_owner(platform, workspace.id, app.id)


async def ask_owner(platform: Platform, workspace_id: str, app_id: str) -> None:
    """Tell the replica owner (and router processes) that the app's desired state changed
    (NOTIFY; the owner's 5 s resync is the safety net)."""
    try:
        await platform.store.notify(RECONCILE_CHANNEL, revision_key(workspace_id, app_id, "-"))
    except Exception:  # the resync repairs it
        log.exception("could not ask the replica owner to reconcile app %s", app_id)


async def forget_app(platform: Platform, app: App, delete: Callable[[], Awaitable[None]]) -> None:
    """Delete an app (caller holds its lock; `delete` removes its rows): its hosts stop
    routing, then every revision that runs is drained and stopped, and the answer comes
    once they have. The replica owner drains and stops before the rows go; any other
    process deletes the rows, asks the owner, and waits until the published replicas of
    the app are gone (or the drain limit and a margin pass)."""
    platform.deleted_apps.add(app.id)  # no route sync under way may bring its hosts back
    platform.router.remove_app(app.id)
    await platform.router.settled()  # the answer means its hosts no longer route
    keys = [
        revision_key(app.workspace_id, app.id, rev.name)
        for rev in await platform.store.scoped(app.workspace_id).revisions.list(app.id)
    ]
    if platform.owns_replicas():
        await _stop_all(platform, keys)
        await delete()
        return
    await delete()
    await ask_owner(platform, app.workspace_id, app.id)
    await _wait_gone(platform, keys, timeout=platform.settings.drain_seconds + GONE_MARGIN)


async def _stop_all(platform: Platform, keys: Sequence[str]) -> None:
    for key in keys:
        if platform.runtime.status(key).total > 0:
            _retire_one(platform, key)
    await platform.retirements.wait(keys)


async def _wait_gone(platform: Platform, keys: Sequence[str], *, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(platform.runtime.status(k).total > 0 for k in keys):
        if loop.time() >= deadline:
            log.warning("replicas of %s still listed after %gs", keys, timeout)
            return
        await asyncio.sleep(WAIT_POLL_SECONDS)


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
        if rev is None or await revision_spec(platform, workspace, app, rev) is None:
            raise DeployFailed(f"the image of revision {name} is no longer on disk.")
    timeout = platform.settings.health_timeout_seconds
    until = datetime.now(UTC) + timedelta(seconds=timeout + WARMUP_MARGIN)
    try:
        await scoped.warmups.set(app.id, wanted, until=until)
        await reconcile_locked(platform, workspace, app)
        for name in wanted:
            await _wait_one(platform, revision_key(app.workspace_id, app.id, name), name)
    except BaseException:
        await asyncio.shield(_unwarm(platform, workspace, app))
        raise


async def _unwarm(platform: Platform, workspace: Workspace, app: App) -> None:
    """After a failed warm-up: what it started and nothing stored wants leaves at once (the
    replica owner waits for that). A warm-up that succeeded ends in `route_traffic`."""
    await platform.store.scoped(app.workspace_id).warmups.clear(app.id)
    await reconcile_locked(platform, workspace, app)
    if platform.owns_replicas():
        revisions = await platform.store.scoped(app.workspace_id).revisions.list(app.id)
        await platform.retirements.wait(
            [revision_key(app.workspace_id, app.id, rev.name) for rev in revisions]
        )


async def route_traffic(
    platform: Platform,
    workspace: Workspace,
    app: App,
    splits: Sequence[TrafficSplit],
    *,
    before: Sequence[TrafficSplit],
) -> None:
    """Store the app's new traffic list (it replaces `before`) and apply it; the caller holds
    the app's lock. The list supersedes any warm-up. If the routes cannot be applied, `before`
    is stored again: the store never claims a split the router does not serve."""
    scoped = platform.store.scoped(app.workspace_id)
    await scoped.traffic.set(app.id, splits)
    await scoped.warmups.clear(app.id)
    try:
        await reconcile_locked(platform, workspace, app)
    except BaseException:
        await asyncio.shield(scoped.traffic.set(app.id, before))
        raise


async def _wait_one(platform: Platform, key: str, name: str) -> None:
    try:
        timeout = platform.settings.health_timeout_seconds
        await platform.runtime.wait_ready(key, 1, timeout=timeout)
    except DeployFailed as exc:
        raise DeployFailed(f"revision {name} could not start: {exc}") from None


async def restore_all(platform: Platform) -> None:
    """At start-up and as the replica owner's resync: every app with traffic reconciled,
    then every other app this runtime still runs replicas of (a failed rollout's, a deleted
    app's), so nothing runs that the store does not want."""
    done: set[tuple[str, str]] = set()
    for workspace, app in await platform.store.serving_apps():
        done.add((workspace.id, app.id))
        try:
            await reconcile_app(platform, workspace, app)
        except Exception:
            log.exception("could not restore app %s", app.id)
    for key in platform.runtime.running_keys():
        parsed = parse_revision_key(key)
        if parsed is not None and (parsed.workspace_id, parsed.app_id) not in done:
            done.add((parsed.workspace_id, parsed.app_id))
            await reconcile_by_id(platform, parsed.workspace_id, parsed.app_id)


async def load_app(
    platform: Platform, workspace_id: str, app_id: str
) -> tuple[Workspace, App] | None:
    """The app and its workspace, or None once either is gone."""
    workspace = await platform.store.workspaces.get(workspace_id)
    app = await platform.store.scoped(workspace_id).apps.get(app_id)
    return (workspace, app) if workspace is not None and app is not None else None


async def reconcile_by_id(platform: Platform, workspace_id: str, app_id: str) -> None:
    """Reconcile one app by its ids (a NOTIFY from another process, the resync); an app
    that no longer exists has every replica it still runs drained and stopped."""
    try:
        found = await load_app(platform, workspace_id, app_id)
        if found is not None:
            await reconcile_app(platform, *found)
            return
        platform.router.remove_app(app_id)
        if platform.owns_replicas():
            prefix = revision_key(workspace_id, app_id, "")
            async with platform.app_lock(app_id):
                running = platform.runtime.running_keys()
                await _stop_all(platform, [k for k in running if k.startswith(prefix)])
    except Exception:  # the resync tries again
        log.exception("could not reconcile app %s", app_id)


def reconcile_soon(platform: Platform, payload: str) -> None:
    """A NOTIFY on `RECONCILE_CHANNEL` (payload: a revision key of the app): the replica
    owner reconciles the app now; a process that does not run replicas re-syncs its routes
    (and asks no one: that would echo between processes)."""
    parsed = parse_revision_key(payload)
    if parsed is None:
        return
    if platform.owns_replicas():
        platform.spawn(reconcile_by_id(platform, parsed.workspace_id, parsed.app_id))
    else:
        platform.spawn(_routes_by_id(platform, parsed.workspace_id, parsed.app_id))


async def _routes_by_id(platform: Platform, workspace_id: str, app_id: str) -> None:
    """Re-sync one app's routes (gone: none); errors are logged, a later event repairs."""
    try:
        found = await load_app(platform, workspace_id, app_id)
        if found is None:
            platform.router.remove_app(app_id)
        else:
            await sync_routes(platform, *found)
    except Exception:  # the next event or resync repairs it
        log.exception("route sync failed for app %s", app_id)


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
        await _routes_by_id(self._platform, workspace_id, app_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
