"""What the WebSocket routes share: authentication before anything is sent, close codes, and
a pump that sends frames while watching for the client to go away.

A WebSocket cannot answer a problem+json body once it is open, so a refused stream is
accepted and closed at once with code `4000 + the HTTP status` the same request would get
over REST (4401 bad or missing key, 4404 unknown deployment or another workspace's, 4422 a
parameter out of range) and the problem's `detail` as the close reason. A watcher that falls
too far behind is closed with 4408. Nothing but that close frame is sent on a refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from slipway.api.auth import Scope, scope_for
from slipway.api.problems import ApiProblem
from slipway.domain.errors import DomainError, Invalid
from slipway.services.platform import Platform
from slipway.services.platform.loghub import WatcherDropped

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
"""A client that does not take a frame within this long is dropped (TCP buffers are full)."""
SLOW = 4408
MAX_REASON_BYTES = 120  # a close reason must fit in a control frame (123 bytes)


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_int(name: str, raw: str | None, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 10)
    except ValueError:
        raise Invalid.field(name, "must be an integer") from None


async def authenticate(websocket: WebSocket, ws_id: str, token: str | None) -> Scope:
    """The workspace scope of the key in the `Authorization` header or `?token=`."""
    platform: Platform = websocket.app.state.platform
    authorization = websocket.headers.get("authorization")
    if authorization is None and token:
        authorization = f"Bearer {token}"
    return await scope_for(platform, ws_id, authorization)


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    """Send a close frame; give up after a while if the client never takes it."""
    data = reason.encode()[:MAX_REASON_BYTES].decode("utf-8", "ignore")
    with contextlib.suppress(Exception):
        if websocket.application_state != WebSocketState.DISCONNECTED:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.close(code=code, reason=data)


async def refuse_on_error(websocket: WebSocket, check: Callable[[], Awaitable[None]]) -> bool:
    """Run `check`; on a domain or API problem close with its code and say False."""
    try:
        await check()
    except ApiProblem as exc:
        await close(websocket, 4000 + exc.status, exc.detail)
        return False
    except DomainError as exc:
        await close(websocket, 4000 + exc.status, exc.detail)
        return False
    return True


async def pump(websocket: WebSocket, frames: AsyncIterator[str]) -> None:
    """Send every frame, then close normally; stop early if the client leaves, is too slow
    or the follower is dropped. Never raises."""
    receiver = asyncio.ensure_future(_until_disconnect(websocket))
    sender = asyncio.ensure_future(_send_all(websocket, frames))
    try:
        await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiver, sender):
            task.cancel()
        await asyncio.gather(receiver, sender, return_exceptions=True)


async def _send_all(websocket: WebSocket, frames: AsyncIterator[str]) -> None:
    try:
        async for frame in frames:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_text(frame)
    except WatcherDropped as exc:
        await close(websocket, SLOW, str(exc))
    except TimeoutError:
        await close(websocket, SLOW, "watcher too slow: a frame waited too long to be sent")
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client went away mid-send
    except DomainError as exc:
        await close(websocket, 4000 + exc.status, exc.detail)
    except Exception as exc:
        log.error("log stream failed: %s", type(exc).__name__)
        await close(websocket, 1011, "internal error")
    else:
        await close(websocket, 1000, "done")


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(Exception):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
