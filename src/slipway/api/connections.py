"""A deadline for every request head: the connection-level timeout uvicorn lacks.

uvicorn (h11) times a connection out only while it idles *between* requests
(`timeout_keep_alive`). A connection that never sends a request, or dribbles its request
line and headers a byte at a time (slowloris), is kept open for ever, each one holding a
slot of `limit_concurrency`. `HeadDeadlineH11` closes a connection whose next request head
has not fully arrived `head_timeout` seconds after the connection opened or the previous
response ended. Once a head is in, the request belongs to the app (the body limit and the
route take over); a WebSocket upgrade hands the socket to another protocol, which the
deadline then leaves alone.

It also caps the connections one client address may hold at once (`max_per_client`): one
more is answered 503 and closed before any of it is read, so a single client cannot take
every slot of `limit_concurrency` (heads time out, bodies time out in `BodyLimit`, and a
request without a valid key is answered before its body is read).

`HeaderLimit` makes the header size limit exact. h11's `max_incomplete_event_size` only
bounds a head that arrives in pieces: a whole head in one read (up to 64 KiB) passes it. The
middleware measures every head (request line and headers) and answers 431 (a WebSocket is
closed before it is accepted) when it is over `max_bytes`.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from slipway.api.problems import problem

HEAD_TIMEOUT_SECONDS = 10.0
_BUSY = (
    b'{"type":"about:blank","title":"Service Unavailable","status":503,'
    b'"detail":"Too many connections from this address."}'
)
_OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b"
) % (len(_BUSY), _BUSY)


class HeadDeadlineH11(H11Protocol):
    head_timeout: float = HEAD_TIMEOUT_SECONDS
    max_per_client: int = 0  # 0: no cap
    per_client: dict[str, int] = {}  # each subclass (`with_head_timeout`) gets its own
    _head_timer: asyncio.TimerHandle | None = None
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if self.max_per_client and self.per_client.get(address, 0) >= self.max_per_client:
            transport.write(_OVERLOADED)
            transport.close()
            return
        self.per_client[address] = self.per_client.get(address, 0) + 1
        self._counted = address
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self._in_request():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        address = self._counted
        if address is None:
            return  # refused in connection_made: uvicorn never knew it
        self._counted = None
        left = self.per_client.get(address, 1) - 1
        if left > 0:
            self.per_client[address] = left
        else:
            self.per_client.pop(address, None)
        self._disarm()
        super().connection_lost(exc)

    def _in_request(self) -> bool:
        upgraded = self.transport.get_protocol() is not self
        return upgraded or (self.cycle is not None and not self.cycle.response_complete)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if not self._in_request() and not self.transport.is_closing():
            self.transport.close()


def with_head_timeout(seconds: float, *, max_per_client: int = 0) -> type[HeadDeadlineH11]:
    """The protocol class for uvicorn's `http=`: its head deadline, its cap per address."""
    settings = {"head_timeout": seconds, "max_per_client": max_per_client, "per_client": {}}
    return type("HeadDeadlineH11", (HeadDeadlineH11,), settings)


class HeaderLimit:
    """ASGI middleware: a request whose head is over `max_bytes` never reaches the app."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or _head_size(scope) <= self.max_bytes:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009})
        else:
            detail = f"The request headers are over {self.max_bytes} bytes."
            title = "Request Header Fields Too Large"
            await problem(431, detail, title=title)(scope, receive, send)


def _head_size(scope: Scope) -> int:
    line = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])
