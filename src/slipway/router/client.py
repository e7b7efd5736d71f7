"""The client side of the proxy: one `ClientConnection` per accepted socket.

Requests are parsed once by `httptools.HttpRequestParser`; when the headers are complete the
route is looked up, a target picked and an upstream connection requested, while the body keeps
streaming in. One exchange is proxied at a time; pipelined requests queue up (with reading
paused) and go next. After a 101 the connection becomes a raw tunnel to its upstream.

Every exchange that picked a target is counted in its revision's `RevisionStats` from the
moment its head is parsed until `_forget`, which every ending path goes through (response
done, our own error answer, upstream lost, client gone), so `in_flight` stays exact and each
request is measured once. Nothing on this path logs or looks anything up by name.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, cast

import httptools

from slipway.router.exchange import (
    BAD_GATEWAY,
    BAD_REQUEST,
    NOT_FOUND,
    UNAVAILABLE,
    Exchange,
    build_head,
)

if TYPE_CHECKING:
    from slipway.router.server import RouterServer

_LAST_CHUNK = b"0\r\n\r\n"


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: RouterServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.write_paused = False  # our write buffer is full: upstreams must not read
        self._parser = httptools.HttpRequestParser(self)
        self._peer = b""
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._building: Exchange | None = None
        self._active: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._tunnel: Exchange | None = None
        self._pauses: set[str] = set()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]).encode() if peer else b"unknown"
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        tunnel = self._tunnel
        if tunnel is not None:
            self._forward(tunnel, data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            ex = self._active if self._active is not None else self._queue[-1]
            self._tunnel = ex
            rest = data[upgrade.args[0] :]
            if rest:
                self._forward(ex, rest)
        except httptools.HttpParserError:
            if self._active is None:
                self.write(BAD_REQUEST)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for ex in (self._active, *self._queue):
            if ex is None:
                continue
            if ex.upstream is not None:
                ex.upstream.abort()
                ex.upstream = None
            self._forget(ex)
        self._active = self._tunnel = None
        self._queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        ex = self._active
        if ex is not None and ex.upstream is not None:
            ex.upstream.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self._active
        if ex is not None and ex.upstream is not None:
            ex.upstream.resume()

    # ------------------------------------------------------------------ parser callbacks

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        ex = Exchange()
        ex.http10 = parser.get_http_version() == "1.0"
        host = build_head(ex, parser.get_method(), self._url, self._headers, self._peer)
        self._url, self._headers = b"", []
        server = self.server
        route = server.hosts.get(host)
        if route is None:
            route = server.resolve(host)
        if route is None:
            ex.error = NOT_FOUND
        else:
            target = route.pick()
            if target is None:
                ex.error = UNAVAILABLE
            else:
                ex.target = target
                ex.backend_index = target.next_backend()
                ex.started = perf_counter()
                target.stats.in_flight += 1
        self._building = ex
        if self._active is None:
            self._activate(ex)
        else:
            self._queue.append(ex)
            self.pause_reading("pipeline")

    def on_body(self, body: bytes) -> None:
        ex = self._building
        if ex is None or ex.error is not None:
            return
        if ex.chunked:
            self._forward(ex, b"%x\r\n%b\r\n" % (len(body), body))
        else:
            self._forward(ex, body)

    def on_message_complete(self) -> None:
        ex = self._building
        if ex is None:
            return
        self._building = None
        ex.keep_alive = self._parser.should_keep_alive() and not ex.upgrade
        if ex.chunked and ex.error is None:
            self._forward(ex, _LAST_CHUNK)
        ex.complete = True
        if ex.error is not None and ex is self._active:
            self._give(ex, ex.error)

    # ------------------------------------------------------------------ proxying

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self, reason: str) -> None:
        if not self._pauses and self.transport is not None:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume_reading(self, reason: str) -> None:
        self._pauses.discard(reason)
        if not self._pauses and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def start_tunnel(self, ex: Exchange) -> None:
        """The upstream answered 101: from now on bytes flow both ways untouched."""
        self._tunnel = ex
        ex.keep_alive = False

    def response_done(self, ex: Exchange) -> None:
        self._forget(ex)
        self._active = None
        if not ex.keep_alive or not ex.complete:
            self.close()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if not self._queue:
                self.resume_reading("pipeline")
            self._activate(nxt)

    def upstream_lost(self, ex: Exchange, *, error: bool = False) -> None:
        """The upstream connection closed before the response was complete; `error`: it
        counts as an upstream error (see `UpstreamConnection.connection_lost`)."""
        ex.upstream = None
        if self.closed or ex is not self._active:
            return
        target = ex.target
        if error and target is not None:
            target.stats.upstream_errors += 1
        if self._tunnel is ex or ex.responded:
            # Tunnel over, or a close-delimited (or truncated) body: either way, end here.
            self._forget(ex)
            self.close()
            return
        if not ex.retried and not ex.has_body and target is not None:
            ex.retried = True  # e.g. a stale keep-alive connection: once more on a fresh one
            self.server.connect(self, ex, ex.backend_index, fresh=True)
            return
        self.connect_failed(ex)

    def connect_failed(self, ex: Exchange) -> None:
        ex.keep_alive = ex.keep_alive and ex.complete
        ex.status = 502
        self._give(ex, BAD_GATEWAY)

    # ------------------------------------------------------------------ internals

    def _activate(self, ex: Exchange) -> None:
        self._active = ex
        if ex.error is not None:
            if ex.complete:
                self._give(ex, ex.error)
            return
        self.server.connect(self, ex, ex.backend_index, fresh=False)

    def _forward(self, ex: Exchange, data: bytes) -> None:
        upstream = ex.upstream
        if upstream is not None:
            upstream.send(data)
        elif ex.pending is None:
            ex.pending = [data]
        else:
            ex.pending.append(data)

    def _give(self, ex: Exchange, response: bytes) -> None:
        """Answer the active exchange ourselves (a canned response, no Keep-Alive header)."""
        ex.pending = None
        if ex.http10:
            ex.keep_alive = False
        self.write(response)
        self.response_done(ex)

    def _forget(self, ex: Exchange) -> None:
        """The one place an exchange with a target ends: in-flight count and metrics."""
        target = ex.target
        if target is not None:
            ex.target = None
            target.stats.finish(ex.status, perf_counter() - ex.started)

    def is_active(self, ex: Exchange) -> bool:
        return ex is self._active
