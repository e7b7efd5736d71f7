"""Connections to backends, and the per-backend pool of idle keep-alive ones.

An `UpstreamConnection` carries one exchange at a time. Response bytes are written to the
client exactly as they arrive; the `HttpResponseParser` only finds where the response ends
(and whether the connection may be reused), so a body is never copied or re-framed. A 101
answer turns the connection into a tunnel that splices bytes both ways. Flow control goes
both ways too: a full upstream write buffer pauses reading from the client, and a full client
write buffer pauses reading from the upstream.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import httptools

from slipway.router.table import Address

if TYPE_CHECKING:
    from slipway.router.client import ClientConnection
    from slipway.router.exchange import Exchange

MAX_IDLE_PER_BACKEND = 32
_INTERIM = frozenset({100, 101, 102, 103})


class Pool:
    """Idle upstream connections by backend address, most recently used first."""

    def __init__(self) -> None:
        self._idle: dict[Address, list[UpstreamConnection]] = {}

    def take(self, address: Address) -> UpstreamConnection | None:
        idle = self._idle.get(address)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def put(self, conn: UpstreamConnection) -> None:
        idle = self._idle.setdefault(conn.address, [])
        if len(idle) >= MAX_IDLE_PER_BACKEND:
            conn.close()
        else:
            idle.append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.address)
        if idle and conn in idle:
            idle.remove(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: Pool, address: Address) -> None:
        self.pool = pool
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.tunnel = False
        self._ex: Exchange | None = None
        self._client: ClientConnection | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._done = False
        self._keep_alive = False

    # ------------------------------------------------------------------ our side

    def attach(self, ex: Exchange, client: ClientConnection) -> None:
        """Send the exchange's head and whatever body arrived so far."""
        assert self.transport is not None
        self._ex, self._client, self._done, self._keep_alive = ex, client, False, False
        self._parser = httptools.HttpResponseParser(self)
        ex.upstream = self
        if ex.pending:
            self.transport.writelines([ex.head, *ex.pending])
            ex.pending.clear()
        else:
            self.transport.write(ex.head)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._ex = self._client = None
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        client, ex = self._client, self._ex
        if client is None or ex is None:
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        client.write(data)
        ex.responded = True
        if self.tunnel:
            return
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            self.tunnel = True
            client.start_tunnel(ex)
            return
        except httptools.HttpParserError:
            self.abort()
            client.upstream_lost(ex)
            return
        if self._done:
            self._finish(ex, client)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        client, ex = self._client, self._ex
        self._ex = self._client = None
        if client is not None and ex is not None:
            client.upstream_lost(ex)

    def pause_writing(self) -> None:
        if self._client is not None:
            self._client.pause_reading("upstream")

    def resume_writing(self) -> None:
        if self._client is not None:
            self._client.resume_reading("upstream")

    # ------------------------------------------------------------------ parser callbacks

    def on_headers_complete(self) -> None:
        ex = self._ex
        parser = self._parser
        if ex is not None and ex.is_head and parser is not None and parser.get_status_code() >= 200:
            self._done = True
            self._keep_alive = parser.should_keep_alive()

    def on_message_complete(self) -> None:
        parser = self._parser
        if parser is not None and parser.get_status_code() not in _INTERIM:
            self._done = True
            self._keep_alive = parser.should_keep_alive()  # it resets once the call returns

    # ------------------------------------------------------------------ internals

    def _finish(self, ex: Exchange, client: ClientConnection) -> None:
        reusable = ex.complete and self._keep_alive
        self._ex = self._client = None
        ex.upstream = None
        if reusable:
            self.reused = True
            self.pool.put(self)
        else:
            self.close()
        client.response_done(ex)
