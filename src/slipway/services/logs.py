"""Build logs: the writer side (`BuildLog`, the LogSink of one deployment) and the reader
side (`follow`, what the WebSocket stream sends).

Writing: a line goes to the `LogHub` first, so live watchers see it at once whatever the
database is doing, and then to the store written behind: one task writes whatever lines
are pending in one transaction, then the next batch, so a chatty build costs a transaction
per batch, not per line, and never waits for the database. `flush` waits until every line
written so far is stored: the pipeline calls it before each status change, so a client that
sees a new status also finds the log that led to it.

Reading: `follow` yields the backlog from index `since`, then each line as it is written,
then the final status. While the build runs it reads from the hub's in-memory log (lines
below the hub's first index from the store); once the hub has let go, the store is complete.
A deployment that never reaches the worker (cancelled while queued) has no live log: `follow`
notices the terminal status by polling the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from slipway.domain.errors import Invalid
from slipway.domain.redact import Redactor
from slipway.ports import ScopedStore
from slipway.services.deployments import get_deployment
from slipway.services.loghub import Watcher
from slipway.services.platform import Platform

POLL_SECONDS = 1.0
"""How often a follower with nothing live to read looks at the stored status."""
SETTLE_SECONDS = 0.05
LOGS_CHANNEL = "slipway_logs"
"""NOTIFY channel (payload: deployment id) after each stored batch, for other processes'
followers (`LogHub.wake`); their 1 s poll stays the safety net."""
MAX_PENDING = 2000
"""Lines a build may be ahead of the store before its writes wait (memory bound)."""

log = logging.getLogger(__name__)


class BuildLog:
    """The LogSink of one deployment: every line goes to live watchers and to the store."""

    def __init__(self, platform: Platform, scoped: ScopedStore, deployment_id: str) -> None:
        self._hub = platform.logs
        self._store = platform.store
        self._scoped = scoped
        self._id = deployment_id
        self._next = 0
        self._stored = 0
        self._pending: list[str] = []
        self._writer: asyncio.Task[None] | None = None
        # Env values of the app are hidden from every line (the pipeline sets it per app).
        self.redact = Redactor()

    async def start(self) -> None:
        self._next = self._stored = len(await self._scoped.logs.list(self._id))
        self._hub.open(self._id, workspace_id=self._scoped.workspace_id, first_index=self._next)

    async def __call__(self, line: str) -> None:
        line = self.redact(line)
        index, self._next = self._next, self._next + 1
        self._hub.publish(self._id, index, [line])
        self._pending.append(line)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        if len(self._pending) >= MAX_PENDING:
            await self.flush()

    async def flush(self) -> None:
        """Return once every line written so far is stored."""
        target = self._next
        while self._stored < target:
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write())
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            first = self._stored
            try:
                await self._scoped.logs.append(self._id, first, batch)
            except Exception:
                log.exception("deployment %s: %d log lines were not stored", self._id, len(batch))
            finally:
                # Stored or lost, these indexes are settled: the hub may let go of them.
                self._stored = first + len(batch)
                self._hub.stored(self._id, self._stored)
            await self._notify()

    async def _notify(self) -> None:
        try:
            await self._store.notify(LOGS_CHANNEL, self._id)
        except Exception:  # followers elsewhere fall back to polling
            log.exception("deployment %s: could not notify log followers", self._id)


@dataclass(frozen=True)
class LogLine:
    index: int
    line: str


@dataclass(frozen=True)
class FinalStatus:
    status: str


LogEvent = LogLine | FinalStatus


async def check_follow(
    platform: Platform, workspace_id: str, deployment_id: str, since: int
) -> int:
    """Validate a follow request before anything is sent: NotFound for a deployment of
    another workspace (or none), Invalid for `since` outside 0..(lines so far)."""
    dep = await get_deployment(platform, workspace_id, deployment_id)
    stored = len(await platform.store.scoped(workspace_id).logs.list(dep.id))
    total = max(stored, platform.logs.end(dep.id))
    if since < 0 or since > total:
        raise Invalid.field("since", f"must be between 0 and {total} (the lines so far)")
    return since


async def follow(
    platform: Platform, workspace_id: str, deployment_id: str, *, since: int = 0
) -> AsyncIterator[LogEvent]:
    """Every line from `since`, then each new one, then the final status.

    Raises `WatcherDropped` when this follower falls too far behind the build."""
    scoped = platform.store.scoped(workspace_id)
    cursor = since
    while True:
        found = platform.logs.subscribe(deployment_id, cursor)
        if found is not None:
            watcher, first_live = found
            try:
                for index, line in await _stored_lines(scoped, deployment_id, cursor, first_live):
                    yield LogLine(index, line)
                async for event in _follow_live(watcher):
                    yield event
                cursor = watcher.cursor
            finally:
                watcher.close()
        dep = await get_deployment(platform, workspace_id, deployment_id)
        for index, line in await _stored_lines(scoped, deployment_id, cursor, None):
            yield LogLine(index, line)
            cursor = index + 1
        if dep.status.terminal and not platform.logs.is_live(deployment_id):
            yield FinalStatus(dep.status.value)
            return
        if found is None:
            await platform.logs.wait_live(deployment_id, POLL_SECONDS)
        else:  # closed, its last lines still on their way to the store
            await asyncio.sleep(SETTLE_SECONDS)


async def _follow_live(watcher: Watcher) -> AsyncIterator[LogLine]:
    while not watcher.finished:
        for index, line in await watcher.next_lines(POLL_SECONDS):
            yield LogLine(index, line)


async def _stored_lines(
    scoped: ScopedStore, deployment_id: str, start: int, stop: int | None
) -> list[tuple[int, str]]:
    if stop is not None and start >= stop:
        return []
    lines = await scoped.logs.list(deployment_id, since=start)
    if stop is not None:
        lines = lines[: stop - start]
    return [(start + i, line) for i, line in enumerate(lines)]
