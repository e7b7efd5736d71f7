"""Route tables: the store's traffic splits plus the runtime's ready replicas, pushed to the
router. Level-triggered: `sync_routes` rebuilds an app's whole table every time, so it does
not matter which change (deploy, traffic, replica crash) asked for it.

`RouteSyncer` is also the runtime's drain gate: replicas a scale-down takes away are first
marked not ready, the gate rebuilds the app's routes without them at once and waits until the
router has no request of that revision in flight (`slipway.services.draining`), and only then
does the runtime stop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from slipway.domain.models import App, TrafficSplit, Workspace
from slipway.domain.routes import Route, Target, app_host, tag_host
from slipway.ports import Runtime
from slipway.services.draining import wait_drained
from slipway.services.platform import Platform

log = logging.getLogger(__name__)


def revision_key(workspace_id: str, app_id: str, revision: str) -> str:
    return f"{workspace_id}/{app_id}/{revision}"


def build_routes(
    *,
    workspace: Workspace,
    app: App,
    splits: Sequence[TrafficSplit],
    runtime: Runtime,
    base_domain: str,
) -> list[Route]:
    def target(split: TrafficSplit, weight: int) -> Target:
        key = revision_key(workspace.id, app.id, split.revision_name)
        return Target(revision=key, weight=weight, backends=runtime.status(key).backends)

    main = Route(
        host=app_host(app.name, workspace.name, base_domain),
        targets=tuple(target(s, s.percent) for s in splits if s.percent > 0),
    )
    tagged = [
        Route(
            host=tag_host(s.tag, app.name, workspace.name, base_domain),
            targets=(target(s, 100),),
        )
        for s in splits
        if s.tag
    ]
    return [main, *tagged]


async def sync_routes(platform: Platform, workspace: Workspace, app: App) -> None:
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


class RouteSyncer:
    """Re-syncs an app's routes whenever the runtime says its ready replicas changed."""

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
        workspace_id, app_id, _ = key.split("/", 2)
        await self._sync(workspace_id, app_id)
        limit = self._platform.settings.drain_seconds
        if not await wait_drained(self._platform.router, key, timeout=limit):
            log.warning("%s still had requests in flight after %gs; scaling down", key, limit)

    def replicas_changed(self, key: str) -> None:
        workspace_id, app_id, _ = key.split("/", 2)
        if (workspace_id, app_id) in self._pending:
            return
        self._pending.add((workspace_id, app_id))
        task = asyncio.get_running_loop().create_task(self._sync(workspace_id, app_id))
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
