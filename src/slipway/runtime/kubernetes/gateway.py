"""`GatewayRoutes`: the route table as Gateway API HTTPRoutes, implementing
`slipway.ports.Router` for the Kubernetes runtime. The cluster's gateway is the data plane:
it splits traffic by the routes' `backendRefs` weights and drains endpoints itself, so the
in-flight counts and the load are not this process's to know (the HPA scales on CPU).

`set_routes` is synchronous (the port's shape): it records the app's table and a task
writes it (apply the app's routes, delete the ones it no longer has); `settled` waits for
those tasks. A table equal to the last one written is not written again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from slipway.domain.routes import Route
from slipway.runtime.kubernetes import manifests as m
from slipway.runtime.kubernetes.api import KubeApi
from slipway.runtime.kubernetes.kinds import HTTP_ROUTE

log = logging.getLogger(__name__)


class GatewayRoutes:
    def __init__(self, api: KubeApi, settings: m.ClusterSettings) -> None:
        self._api = api
        self._settings = settings
        self._wanted: dict[str, Sequence[Route]] = {}
        self._written: dict[str, list[dict[str, Any]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    # ------------------------------------------------------------------ Router

    def set_routes(self, app_id: str, routes: Sequence[Route]) -> None:
        self._wanted[app_id] = tuple(routes)
        self._schedule(app_id)

    def remove_app(self, app_id: str) -> None:
        self._wanted[app_id] = ()
        self._schedule(app_id)

    def in_flight(self, revision_key: str) -> int:
        return 0

    def load(self) -> dict[str, tuple[float, int]]:
        return {}

    def on_activate(self, callback: Callable[[str], None]) -> None:
        """Never called: the HPA cannot scale to zero (docs/kubernetes.md)."""

    def refuse_held(self, revision_key: str, reason: str, seconds: float) -> None:
        """Nothing is held here."""

    async def settled(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def metrics(self) -> bytes:
        return b""

    async def close(self) -> None:
        await self.settled()

    # ------------------------------------------------------------------ internals

    def _schedule(self, app_id: str) -> None:
        if app_id in self._tasks:
            self._again.add(app_id)
            return
        task = asyncio.get_running_loop().create_task(self._write(app_id))
        self._tasks[app_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(app_id, None))

    async def _write(self, app_id: str) -> None:
        while True:
            self._again.discard(app_id)
            routes = self._wanted.get(app_id, ())
            try:
                await self._write_once(app_id, routes)
            except Exception:
                log.exception("writing the HTTPRoutes of app %s failed", app_id)
                self._written.pop(app_id, None)  # the next set_routes writes it again
            if app_id not in self._again:
                return

    async def _write_once(self, app_id: str, routes: Sequence[Route]) -> None:
        manifests = self._manifests(app_id, routes)
        if self._written.get(app_id) == manifests:
            return
        for obj in manifests:
            await self._api.apply(obj)
        keep = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in manifests}
        existing, _ = await self._api.list(HTTP_ROUTE, selector=f"{m.MANAGED},{m.APP}={app_id}")
        for obj in existing:
            meta = obj["metadata"]
            if (meta["namespace"], meta["name"]) not in keep:
                await self._api.delete(HTTP_ROUTE, meta["name"], meta["namespace"])
        self._written[app_id] = manifests
        if not routes:
            self._wanted.pop(app_id, None)

    def _manifests(self, app_id: str, routes: Sequence[Route]) -> list[dict[str, Any]]:
        found = app_of(routes)
        if found is None:
            return []
        workspace_id, app_name = found
        return m.http_routes(self._settings, workspace_id=workspace_id, app_id=app_id,
                             app_name=app_name, routes=routes)  # fmt: skip


def app_of(routes: Sequence[Route]) -> tuple[str, str] | None:
    """(workspace id, app name) of the app the routes send to; None when they send nowhere."""
    for route in routes:
        for target in route.targets:
            if (found := m.workspace_and_app(target.revision)) is not None:
                return found
    return None
