"""Request limits the API enforces itself, and the settings of all of them.

`ApiLimits` gathers what `create_app` needs (rate limit, body size) and what `bootstrap`
hands to uvicorn (header size, WebSocket frame size, connection timeouts), so one object
read from `SLIPWAY_*` variables describes every limit.

`BodyLimit` refuses a request body over `max_body_bytes` with 413 before the route reads
it: at once from `Content-Length`, or while a chunked body streams in. The body is then
handed on from memory, which lets the idempotency middleware fingerprint it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.api.problems import problem


@dataclass(frozen=True)
class ApiLimits:
    rate_per_second: float = 20.0  # tokens added to each key's bucket per second
    rate_burst: int = 200  # bucket size; 0 turns rate limiting off
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024  # uvicorn (h11) incomplete-event limit
    max_ws_frame_bytes: int = 64 * 1024  # clients only send small control messages
    keep_alive_seconds: float = 5.0
    max_connections: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiLimits:
        """`SLIPWAY_RATE_LIMIT` (per second), `SLIPWAY_RATE_BURST`, `SLIPWAY_MAX_BODY_BYTES`,
        `SLIPWAY_MAX_HEADER_BYTES`, `SLIPWAY_MAX_WS_FRAME_BYTES`, `SLIPWAY_KEEP_ALIVE`,
        `SLIPWAY_MAX_CONNECTIONS`; unset ones keep their defaults."""
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
        )


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
    """ASGI middleware: 413 for a body over the limit, whatever its transfer encoding."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        try:
            if declared is not None and declared > self.max_bytes:
                raise BodyTooLarge
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            detail = f"The request body must be at most {self.max_bytes} bytes."
            await problem(413, detail, headers={"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)
