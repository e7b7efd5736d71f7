"""A deployment's log, written: `DeploymentLog` is the LogSink of one deployment (build,
release and rollout lines), the pipeline's.

A line goes to the `LogHub` first, so live watchers see it at once whatever the database is
doing, and then to the store written behind: one task writes whatever lines are pending in
one transaction, then the next batch, so a chatty build costs a transaction per batch, not
per line, and never waits for the database. `flush` waits until every line written so far
is stored: the pipeline calls it before each status change, so a client that sees a new
status also finds the log that led to it. The read side is `resources/buildlogs.py`.
"""

from __future__ import annotations

import asyncio
import logging

from slipway.domain.redact import Redactor
from slipway.ports import ScopedStore
from slipway.services.platform import Platform
from slipway.services.platform.loghub import LOGS_CHANNEL

MAX_PENDING = 2000
"""Lines a build may be ahead of the store before its writes wait (memory bound)."""

log = logging.getLogger(__name__)


class DeploymentLog:
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
