"""A deployment's log, read: `follow` is what the WebSocket stream sends (the write side is
`deploy/deploylog.py`).

`follow` yields the backlog from index `since`, then each line as it is written, then the
final status. While the build runs it reads from the hub's in-memory log (lines below the
hub's first index from the store); once the hub has let go, the store is complete. A
deployment that never reaches the worker (cancelled while queued) has no live log: `follow`
notices the terminal status by polling the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from slipway.domain.errors import Invalid
from slipway.ports import ScopedStore
from slipway.services.platform import Platform
from slipway.services.platform.loghub import Watcher
from slipway.services.resources.deployments import get_deployment

POLL_SECONDS = 1.0
"""How often a follower with nothing live to read looks at the stored status."""
SETTLE_SECONDS = 0.05


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
