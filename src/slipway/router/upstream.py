"""Connections to backends, and the per-backend pool of idle keep-alive ones.

An `UpstreamConnection` carries one exchange at a time. Response bytes are written to the
client exactly as they arrive; the connection's one `HttpResponseParser` (reused from response
to response) only finds the status and where the response ends (and whether the connection
may be reused), so a body is never copied or re-framed. The exception is an HTTP/1.0 client,
whose responses are re-framed by `http10.Http10Response`. A 101 answer turns the connection
into a tunnel that splices bytes both ways. Flow control goes both ways too: a full upstream
write buffer pauses reading from the client, and a full client write buffer pauses reading
from the upstream. The idle pool is large enough for every connection a busy client side can
have in flight, so steady load never reconnects.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import httptools

from slipway.router.http10 import Http10Response
from slipway.router.table import Address

if TYPE_CHECKING:
    from slipway.router.client import ClientConnection
    from slipway.router.exchange import Exchange

MAX_IDLE_PER_BACKEND = 256


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
        self._parser = httptools.HttpResponseParser(self)  # one per connection, reused
        self._http10: Http10Response | None = None
        self._done = False
        self._keep_alive = False
        self._paused = False  # reading paused because the client cannot take more

    # ------------------------------------------------------------------ our side

    def attach(self, ex: Exchange, client: ClientConnection) -> None:
        """Send the exchange's head and whatever body arrived so far."""
        assert self.transport is not None
        self._ex, self._client, self._done = ex, client, False
        self._http10 = Http10Response(ex, client) if ex.http10 else None
        ex.upstream = self
        if client.write_paused:
            self.pause()
        pending = ex.pending
        if pending:
            self.transport.writelines([ex.head, *pending])
            ex.pending = None
            ex.pending_bytes = 0
            client.resume_reading("pending")
        else:
            self.transport.write(ex.head)
        if ex.complete:
            server = client.server
            ex.deadline = server.clock + server.response_head_seconds

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._ex = self._client = self._http10 = None
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
        if self.tunnel:
            client.write(data)
            return
        rewriter = self._http10
        try:
            if rewriter is None:
                client.write(data)  # spliced as they come: the parser only finds the end
                ex.responded = True
                self._parser.feed_data(data)
            else:
                rewriter.feed(data)
        except httptools.HttpParserUpgrade:
            if rewriter is None and client.start_tunnel(ex):
                self.tunnel = True
                return
            self._fail(ex, client)  # a 101 nobody asked for
            return
        except httptools.HttpParserError:
            self._fail(ex, client)
            return
        if rewriter is not None and rewriter.done:
            self._done, self._keep_alive = True, rewriter.keep_alive
        if self._done:
            self._finish(ex, client)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        client, ex = self._client, self._ex
        self._ex = self._client = self._http10 = None
        if client is not None and ex is not None:
            # A reused connection closed before answering is keep-alive's normal race, and a
            # close after response bytes is how close-delimited bodies end: neither is an error.
            client.upstream_lost(ex, error=not self.reused and not ex.responded)

    def pause_writing(self) -> None:
        if self._client is not None:
            self._client.pause_reading("upstream")

    def resume_writing(self) -> None:
        if self._client is not None:
            self._client.resume_reading("upstream")

    # ------------------------------------------------------------------ parser callbacks

    def on_headers_complete(self) -> None:
        ex = self._ex
        status = self._parser.get_status_code()
        if ex is not None and status >= 200:
            ex.status = status
            if ex.is_head:  # no body follows, whatever Content-Length says
                self._done = True
                self._keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        parser = self._parser
        if parser.get_status_code() >= 200:  # interim answers (100 Continue) are not the end
            self._done = True
            self._keep_alive = parser.should_keep_alive()  # it resets once the call returns

    # ------------------------------------------------------------------ internals

    def _fail(self, ex: Exchange, client: ClientConnection) -> None:
        self.abort()
        client.upstream_lost(ex, error=True)

    def _finish(self, ex: Exchange, client: ClientConnection) -> None:
        # An upgrade that did not happen is not reused: nothing about it is ordinary.
        reusable = ex.complete and self._keep_alive and not ex.upgrade
        self._ex = self._client = self._http10 = None
        ex.upstream = None
        if reusable:
            if ex.is_head:  # the parser still expects the body a HEAD response never has
                self._parser = httptools.HttpResponseParser(self)
            self.reused = True
            self.resume()  # the next exchange on it starts with no backlog
            self.pool.put(self)
        else:
            self.close()
        client.response_done(ex)
