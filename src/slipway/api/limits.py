"""Request limits the API enforces itself, and the settings of all of them.

`ApiLimits` gathers what `create_app` needs (rate limit, body size) and what `bootstrap`
hands to uvicorn (header size, WebSocket frame size, connection timeouts), so one object
read from `SLIPWAY_*` variables describes every limit.

`BodyLimit` authenticates a request that has a body before it reads a byte of it (a bad or
missing key under `/workspaces/` is 401 at once: no anonymous client holds a connection by
trickling a body), then reads the body with a deadline (`body_seconds`, 408 and close past
it) and refuses one over `max_body_bytes` with 413: at once from `Content-Length`, or while a
chunked body streams in. The body is then handed on from memory, which lets the idempotency
middleware fingerprint it; the key it found rides along in `scope["state"]`, so the route
does not look it up again.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.api.problems import problem
from slipway.services.platform import Platform
from slipway.services.resources import keys

AUTHENTICATED = "api_key"  # scope["state"] key of the key BodyLimit found


@dataclass(frozen=True)
class ApiLimits:
    rate_per_second: float = 20.0  # tokens added to each key's bucket per second
    rate_burst: int = 200  # bucket size; 0 turns rate limiting off
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024  # uvicorn (h11) incomplete-event limit
    max_ws_frame_bytes: int = 64 * 1024  # clients only send small control messages
    keep_alive_seconds: float = 5.0
    max_connections: int = 1000
    max_per_client: int = 100  # connections open at once from one address
    body_seconds: float = 30.0  # a request body must have arrived this long after its head
    # Addresses whose X-Forwarded-For / -Proto are believed (a proxy the operator runs in
    # front of the API); none by default: the client address is the socket's.
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiLimits:
        """`SLIPWAY_RATE_LIMIT` (per second), `SLIPWAY_RATE_BURST`, `SLIPWAY_MAX_BODY_BYTES`,
        `SLIPWAY_MAX_HEADER_BYTES`, `SLIPWAY_MAX_WS_FRAME_BYTES`, `SLIPWAY_KEEP_ALIVE`,
        `SLIPWAY_MAX_CONNECTIONS`, `SLIPWAY_MAX_CONNECTIONS_PER_CLIENT`, `SLIPWAY_BODY_SECONDS`;
        unset ones keep their defaults."""
        env = os.environ if env is None else env
        d = cls()
        return cls(
            rate_per_second=float(env.get("SLIPWAY_RATE_LIMIT", d.rate_per_second)),
            rate_burst=int(env.get("SLIPWAY_RATE_BURST", d.rate_burst)),
            max_body_bytes=int(env.get("SLIPWAY_MAX_BODY_BYTES", d.max_body_bytes)),
            max_header_bytes=int(env.get("SLIPWAY_MAX_HEADER_BYTES", d.max_header_bytes)),
            max_ws_frame_bytes=int(env.get("SLIPWAY_MAX_WS_FRAME_BYTES", d.max_ws_frame_bytes)),
            keep_alive_seconds=float(env.get("SLIPWAY_KEEP_ALIVE", d.keep_alive_seconds)),
            max_connections=int(env.get("SLIPWAY_MAX_CONNECTIONS", d.max_connections)),
            max_per_client=int(env.get("SLIPWAY_MAX_CONNECTIONS_PER_CLIENT", d.max_per_client)),
            body_seconds=float(env.get("SLIPWAY_BODY_SECONDS", d.body_seconds)),
            trusted_proxies=trusted_proxies(env),
        )


def trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """`SLIPWAY_TRUSTED_PROXIES`: a comma-separated list of addresses."""
    raw = env.get("SLIPWAY_TRUSTED_PROXIES", "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; BodyTooLarge as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` once, then defers to the real one (disconnects)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replaying


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware: authentication before the body, then the body's deadline and size."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        platform: Platform | None = None,
        seconds: float = 30.0,
        prefix: str = "/api/v1/workspaces/",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.platform = platform
        self.seconds = seconds
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self.platform is not None and scope["path"].startswith(self.prefix):
            key = await keys.authenticate(self.platform.store, header(scope, b"authorization"))
            if key is None:
                headers = {"WWW-Authenticate": "Bearer", "Connection": "close"}
                detail = "A valid API key is required."
                await problem(401, detail, headers=headers)(scope, receive, send)
                return
            scope.setdefault("state", {})[AUTHENTICATED] = key
        declared = _declared_length(scope)
        try:
            if declared is not None and declared > self.max_bytes:
                raise BodyTooLarge
            async with asyncio.timeout(self.seconds):
                body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            detail = f"The request body must be at most {self.max_bytes} bytes."
            await problem(413, detail, headers={"Connection": "close"})(scope, receive, send)
            return
        except TimeoutError:
            detail = f"The request body did not arrive within {self.seconds:g} seconds."
            await problem(408, detail, headers={"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
