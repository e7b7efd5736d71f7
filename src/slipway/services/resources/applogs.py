"""Runtime logs of an app: its replicas' output, read a page at a time or followed live.

Paging is by cursor, not by time: every line has a per-app `seq`, `since=N` starts at seq N,
and each page says the `next` seq to ask for. Without `since`, a read gives the latest
`limit` lines (a tail). Lines rotated away are gone; a `since` before the oldest kept line
simply starts at the oldest. The lines themselves are kept by a `RuntimeLogs` port (on disk,
bounded per app, by the local runtime).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from slipway.domain.errors import FieldError, raise_if
from slipway.domain.names import parse_revision_name
from slipway.ports import AppLogLine, RuntimeLogs
from slipway.services.platform import Platform
from slipway.services.resources.apps import get_app

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FOLLOW_BATCH = 500
FOLLOW_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class AppLogPage:
    lines: list[AppLogLine]
    next: int  # the seq to pass as `since` for the lines after these


class NoRuntimeLogs:
    """A `RuntimeLogs` that keeps nothing (a platform whose runtime does not capture)."""

    def read(
        self, workspace_id: str, app_id: str, *, since: int | None, limit: int, revision: str | None
    ) -> list[AppLogLine]:
        return []

    def next_seq(self, workspace_id: str, app_id: str) -> int:
        return 1

    async def wait(self, workspace_id: str, app_id: str, timeout: float) -> None:
        await asyncio.sleep(timeout)


def _problems(
    since: int | None, limit: int, revision: str | None, app_name: str
) -> list[FieldError]:
    errors = []
    if since is not None and since < 0:
        errors.append(FieldError("since", "must be 0 or more"))
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
    if revision is not None:
        parsed = parse_revision_name(revision)
        if parsed is None or parsed[0] != app_name:
            errors.append(FieldError("revision", f"must be a revision name of app {app_name}"))
    return errors


async def read(
    platform: Platform,
    logs: RuntimeLogs,
    workspace_id: str,
    app_id: str,
    *,
    since: int | None = None,
    limit: int = DEFAULT_LIMIT,
    revision: str | None = None,
) -> AppLogPage:
    """One page of an app's runtime log. NotFound for an app of another workspace; Invalid
    for a negative `since`, a `limit` outside 1..1000 or another app's revision name."""
    app = await get_app(platform, workspace_id, app_id)
    raise_if(_problems(since, limit, revision, app.name))
    lines = logs.read(workspace_id, app.id, since=since, limit=limit, revision=revision)
    if lines:
        after = lines[-1].seq + 1
    else:
        after = since if since is not None else logs.next_seq(workspace_id, app.id)
    return AppLogPage(lines, after)


async def follow(
    platform: Platform,
    logs: RuntimeLogs,
    workspace_id: str,
    app_id: str,
    *,
    since: int | None = None,
    revision: str | None = None,
) -> AsyncIterator[AppLogLine]:
    """The page `read` would give, then every new line as it is written, until cancelled."""
    page = await read(
        platform, logs, workspace_id, app_id, since=since, limit=MAX_LIMIT, revision=revision
    )
    cursor = page.next
    for line in page.lines:
        yield line
    while True:
        lines = logs.read(workspace_id, app_id, since=cursor, limit=FOLLOW_BATCH, revision=revision)
        for line in lines:
            yield line
        if lines:
            cursor = lines[-1].seq + 1
        else:
            await logs.wait(workspace_id, app_id, FOLLOW_POLL_SECONDS)
