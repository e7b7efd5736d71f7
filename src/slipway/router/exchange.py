"""One request/response pair as the proxy sees it, and the bytes it writes itself.

The request head is rebuilt once, from the parsed headers, while parsing: hop-by-hop headers
are dropped, `Host` is kept, `X-Forwarded-For` is appended to when the client is a proxy the
operator trusts (`SLIPWAY_TRUSTED_PROXIES`), else replaced by the client's address, and
`X-Forwarded-Proto`/`-Host` are set. The body is forwarded as it arrives (re-chunked when the
client sent it chunked); chunks that arrive before an upstream connection is attached wait in
`pending` (at most `PENDING_LIMIT` bytes: then the client is not read until they are sent,
which matters for a request held while its revision starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipway.router.table import CompiledTarget
    from slipway.router.upstream import UpstreamConnection

PENDING_LIMIT = 65536

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    }
)


class Exchange:
    __slots__ = (
        "backend_index",
        "chunked",
        "complete",
        "deadline",
        "error",
        "has_body",
        "head",
        "hosts",
        "http10",
        "is_head",
        "keep_alive",
        "pending",
        "pending_bytes",
        "responded",
        "retried",
        "started",
        "status",
        "target",
        "upgrade",
        "upstream",
    )

    def __init__(self) -> None:
        self.head = b""
        self.pending: list[bytes] | None = None
        self.pending_bytes = 0  # in `pending`; past PENDING_LIMIT the client is not read
        self.complete = False  # the whole request was received
        self.chunked = self.has_body = self.is_head = self.upgrade = self.http10 = False
        self.keep_alive = True  # the client's wish
        self.error: bytes | None = None  # a canned response to give instead of proxying
        self.target: CompiledTarget | None = None
        self.backend_index = 0
        self.retried = False
        self.responded = False  # response bytes reached the client
        self.status = 0  # the response's status code, once its head is known
        self.started = 0.0  # perf_counter() when the request head was parsed
        self.upstream: UpstreamConnection | None = None
        self.hosts = 0  # Host headers the request had
        self.deadline = 0.0  # loop time by which the response head must have come (0: none)


def build_head(
    ex: Exchange,
    method: bytes,
    url: bytes,
    headers: list[tuple[bytes, bytes]],
    peer: bytes,
    trusted: bool = False,
    *,
    tls: bool = False,
) -> bytes | None:
    """Set `ex.head` (the upstream request head) and its framing flags; return the client's
    Host header value (None when absent; `ex.hosts` counts them) for the route lookup. The
    upstream request is always HTTP/1.1 (keep-alive pool); an HTTP/1.0 client cannot
    upgrade."""
    host: bytes | None = None
    xff = b""
    upgrade_value = b""
    connection = b""
    parts = [method, b" ", url, b" HTTP/1.1\r\n"]
    for name, value in headers:
        lname = name.lower()
        if lname in _HOP_BY_HOP:
            if lname == b"connection":
                connection = value.lower()
            elif lname == b"upgrade":
                upgrade_value = value
            continue
        if lname == b"host":
            host = value
            ex.hosts += 1
        elif lname == b"x-forwarded-for":
            if trusted:
                xff = value + b", "
            continue
        elif lname == b"transfer-encoding":
            ex.chunked = b"chunked" in value.lower()
            ex.has_body = True
        elif lname == b"content-length":
            ex.has_body = value.strip() not in (b"0", b"")
        parts += (name, b": ", value, b"\r\n")
    if upgrade_value and b"upgrade" in connection and not ex.http10:
        ex.upgrade = True
        parts += (b"Connection: Upgrade\r\nUpgrade: ", upgrade_value, b"\r\n")
    proto = b"https" if tls else b"http"
    parts += (b"X-Forwarded-For: ", xff, peer, b"\r\nX-Forwarded-Proto: ", proto, b"\r\n")
    if host is not None:
        parts += (b"X-Forwarded-Host: ", host, b"\r\n")
    parts.append(b"\r\n")
    ex.is_head = method == b"HEAD"
    ex.head = b"".join(parts)
    return host


def canned(status: str, text: str, *extra: str) -> bytes:
    body = (text + "\n").encode()
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def closing(response: bytes) -> bytes:
    """`response` telling the client the connection ends after it."""
    if b"\r\nConnection: close\r\n" in response:
        return response
    status, _, rest = response.partition(b"\r\n")
    return status + b"\r\nConnection: close\r\n" + rest


CHALLENGE_PREFIX = b"/.well-known/acme-challenge/"


def challenge_answer(answer: bytes | None) -> bytes:
    """An ACME HTTP-01 response: the key authorization, or 404 for a token not asked for."""
    if answer is None:
        return canned("404 Not Found", "No such ACME challenge.")
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(answer), answer)
    )


def redirect(location: bytes) -> bytes:
    """308 to `location` (the same method and body, on HTTPS)."""
    body = b"Redirecting to " + location + b"\n"
    return (
        b"HTTP/1.1 308 Permanent Redirect\r\nLocation: %b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%b"
        % (location, len(body), body)
    )


NOT_FOUND = canned("404 Not Found", "No app is served at this host.")
UNAVAILABLE = canned(
    "503 Service Unavailable", "No replica of this app is ready yet.", "Retry-After: 1"
)
BAD_GATEWAY = canned("502 Bad Gateway", "The app could not be reached.")
BAD_REQUEST = canned("400 Bad Request", "Malformed request.", "Connection: close")
REQUEST_TIMEOUT = canned(
    "408 Request Timeout", "The request head did not arrive in time.", "Connection: close"
)
METHOD_NOT_ALLOWED = canned("405 Method Not Allowed", "CONNECT is not served.", "Connection: close")
HEAD_TOO_LARGE = canned(
    "431 Request Header Fields Too Large", "The request head is too large.", "Connection: close"
)
GATEWAY_TIMEOUT = canned(
    "504 Gateway Timeout", "The app did not answer in time.", "Connection: close"
)
OVERLOADED = canned(
    "503 Service Unavailable", "Too many connections.", "Retry-After: 1", "Connection: close"
)
