"""PostgreSQL LISTEN on one dedicated asyncpg connection (`slipway.ports.Notifications`).

A pooled SQLAlchemy connection cannot listen: LISTEN belongs to one session, and the pool
hands sessions out and back. So `PgListener.run` keeps its own connection, LISTENs on every
subscribed channel, and calls the subscribers' callbacks with each payload. When the
connection drops it reconnects after a second; notifications sent meanwhile are lost, which
is why every subscriber also polls (a notification only makes it sooner). On SQLite
bootstrap starts none: every role shares one process and its in-process signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from slipway.store.engine import normalize_url

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class PgListener:
    def __init__(self, url: str) -> None:
        parsed = normalize_url(url).set(drivername="postgresql")
        self._dsn = parsed.render_as_string(hide_password=False)
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}

    def subscribe(self, channel: str, callback: Callable[[str], None]) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    def _deliver(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, []):
            try:
                callback(payload)
            except Exception:
                log.exception("a %s listener failed", channel)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost."""
        while True:
            try:
                await self._listen_once()
            except Exception as exc:  # any failure: the subscribers' polls cover the gap
                log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            for channel in self._callbacks:
                await conn.add_listener(channel, self._deliver)
            while not conn.is_closed():
                await asyncio.sleep(RECONNECT_SECONDS)
                await conn.execute("SELECT 1")  # notices a dead server
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
