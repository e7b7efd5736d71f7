"""Re-framing one upstream response for an HTTP/1.0 client.

Upstream connections always speak HTTP/1.1 (that is what keeps them pooled), so a replica may
answer with `Transfer-Encoding: chunked`, which an HTTP/1.0 client (ab, curl --http1.0,
old monitoring probes) cannot read, and without `Connection: keep-alive`, which an HTTP/1.0
client needs to see before it reuses a connection. For those exchanges only, the response
goes through this second parser instead of being spliced: the head is rebuilt without
hop-by-hop headers, the body is written de-chunked, and the connection to the client is kept
alive only when the client asked for it and the body has a length (`Content-Length`, or a
response that has no body); otherwise `Connection: close` is sent and the end of the body is
the end of the connection. Interim (1xx) responses are dropped: HTTP/1.0 has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from slipway.router.client import ClientConnection
    from slipway.router.exchange import Exchange

_DROP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_NO_BODY = frozenset({204, 304})
_KEEP_ALIVE = b"Connection: keep-alive\r\n\r\n"
_CLOSE = b"Connection: close\r\n\r\n"


class Http10Response:
    """Parser callbacks for one response to an HTTP/1.0 client; `feed` is the entry point."""

    __slots__ = ("_client", "_ex", "_headers", "_reason", "done", "keep_alive", "parser")

    def __init__(self, ex: Exchange, client: ClientConnection) -> None:
        self._ex = ex
        self._client = client
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self.done = False
        self.keep_alive = False  # may the *upstream* connection be reused
        self.parser = httptools.HttpResponseParser(self)

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers, self._headers = self._headers, []
        reason, self._reason = self._reason, b""
        if status < 200:
            return  # 100 Continue and friends mean nothing to an HTTP/1.0 client
        ex = self._ex
        ex.status = status
        parts = [b"HTTP/1.1 %d %b\r\n" % (status, reason)]
        sized = ex.is_head or status in _NO_BODY
        for name, value in headers:
            lname = name.lower()
            if lname in _DROP:
                continue
            if lname == b"content-length":
                sized = True
            parts += (name, b": ", value, b"\r\n")
        ex.keep_alive = ex.keep_alive and sized
        parts.append(_KEEP_ALIVE if ex.keep_alive else _CLOSE)
        self._client.write(b"".join(parts))
        ex.responded = True
        if ex.is_head:
            self.done = True  # the parser would wait for a body that will not come
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._client.write(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()
