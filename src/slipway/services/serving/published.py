"""Replica state across processes: the replica owner publishes, everyone else reads.

`ReplicaPublisher` runs in worker processes: on every change the local runtime reports it
writes that revision's replicas (address, ready) to the store, and every lease renewal it
refreshes their heartbeat and republishes every revision it knows (level-triggered: a lost
write is repaired at the next beat). Closing withdraws them all.

`PublishedRuntime` is the `Runtime` the services see in a process that may not run the
replicas (PostgreSQL, several processes): while this process holds the `replicas` lease its
own runtime is the truth; otherwise `status` answers from a cache of the published rows,
refreshed at every NOTIFY (`kick`) and at least every `REFRESH_SECONDS`, and it calls the
`on_change` callbacks for each revision whose published replicas changed (so `RouteSyncer`
rebuilds that app's routes). Starting and stopping replicas still go to the local runtime:
only the replica owner does that. Published state has no restart count or crash message.

A router-role process rebuilds every serving app's routes from them every second
(`reconcile.resync_routes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from slipway.domain.errors import DeployFailed
from slipway.domain.routes import Backend
from slipway.ports import (
    LogSink,
    PublishedReplica,
    ReplicaBoard,
    ReplicaStatus,
    RevisionSpec,
    Runtime,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
WAIT_POLL_SECONDS = 0.05
_EMPTY = ReplicaStatus(ready=0, total=0, backends=())


def _now() -> datetime:
    return datetime.now(UTC)


class ReplicaPublisher:
    def __init__(
        self, store: ReplicaBoard, runtime: Runtime, *, owner: str, lease_seconds: float
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._known: set[str] = set()
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    def attach(self) -> None:
        self._runtime.on_change(self.changed)

    def changed(self, key: str) -> None:
        self._known.add(key)
        self._dirty.add(key)
        self._wake.set()

    async def run(self) -> None:
        """Publish changes as they come; heartbeat and republish all every third lease."""
        loop = asyncio.get_running_loop()
        beat_every = self._lease_seconds / 3
        next_beat = loop.time()
        while True:
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + beat_every
                    await self._beat()
                await self._flush()
            except Exception:  # a database blip: the next beat repairs it
                log.exception("could not publish replica state")
            self._wake.clear()
            timeout = max(0.0, next_beat - loop.time())
            if not self._dirty:
                with contextlib.suppress(TimeoutError):  # not wait_for: see Worker._sleep
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()

    async def _flush(self) -> None:
        while self._dirty:
            key = self._dirty.pop()
            await self.publish(key)

    async def publish(self, key: str) -> None:
        status = self._runtime.status(key)
        rows = [PublishedReplica(key, b.host, b.port, True, netns=b.netns) for b in status.backends]
        rows += [PublishedReplica(key, "", 0, False)] * max(0, status.total - status.ready)
        await self._store.publish_replicas(owner=self._owner, key=key, replicas=rows)
        if not rows:
            self._known.discard(key)

    async def _beat(self) -> None:
        self._dirty |= self._known
        purge = _now() - timedelta(seconds=10 * self._lease_seconds)
        await self._store.heartbeat_replicas(owner=self._owner, purge_before=purge)

    async def close(self) -> None:
        await self._store.withdraw_replicas(owner=self._owner)


def _statuses(rows: list[PublishedReplica]) -> dict[str, ReplicaStatus]:
    grouped: dict[str, list[PublishedReplica]] = {}
    for row in rows:
        grouped.setdefault(row.revision_key, []).append(row)
    return {
        key: ReplicaStatus(
            ready=sum(r.ready for r in group),
            total=len(group),
            backends=tuple(Backend(r.host, r.port, r.netns) for r in group if r.ready),
        )
        for key, group in grouped.items()
    }


class PublishedRuntime:
    """A `Runtime`: the local one while this process leads, else the published rows."""

    def __init__(
        self,
        local: Runtime,
        store: ReplicaBoard,
        *,
        leading: Callable[[], bool],
        lease_seconds: float,
    ) -> None:
        self._local = local
        self._store = store
        self._leading = leading
        self._lease_seconds = lease_seconds
        self._cache: dict[str, ReplicaStatus] = {}
        self._callbacks: list[Callable[[str], None]] = []
        self._kick = asyncio.Event()

    def kick(self, _payload: str = "") -> None:
        """Refresh now (a NOTIFY said published replicas changed)."""
        self._kick.set()

    async def refresh(self) -> None:
        fresh_after = _now() - timedelta(seconds=self._lease_seconds)
        new = _statuses(await self._store.published_replicas(fresh_after=fresh_after))
        old, self._cache = self._cache, new
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                for callback in list(self._callbacks):
                    callback(key)

    async def run(self) -> None:
        while True:
            self._kick.clear()
            try:
                await self.refresh()
            except Exception:  # a database blip: keep the last known state
                log.exception("could not read published replicas")
            with contextlib.suppress(TimeoutError):  # not wait_for: see Worker._sleep
                async with asyncio.timeout(REFRESH_SECONDS):
                    await self._kick.wait()

    # ------------------------------------------------------------------ Runtime

    def status(self, key: str) -> ReplicaStatus:
        if self._leading():
            return self._local.status(key)
        local = self._local.status(key)
        return local if local.total > 0 else self._cache.get(key, _EMPTY)

    def running_keys(self) -> list[str]:
        """What this process runs: the only replicas its reconciler may stop."""
        return self._local.running_keys()

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._local.on_change(callback)
        self._callbacks.append(callback)

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        await self._local.scale(spec, replicas)

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        """While leading, the local runtime's answer (with a crashed replica's reason);
        otherwise until the published rows show `count` ready replicas."""
        if self._leading():
            await self._local.wait_ready(key, count, timeout=timeout)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.status(key).ready < count:
            if loop.time() >= deadline:
                raise DeployFailed(f"it had no healthy replica within {timeout:g}s")
            await asyncio.sleep(WAIT_POLL_SECONDS)

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        await self._local.stop(key, drain_seconds=drain_seconds)

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        self._local.set_drain_gate(gate)

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        return await self._local.run_once(spec, command, log=log, timeout=timeout)

    async def close(self) -> None:
        await self._local.close()
