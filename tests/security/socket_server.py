"""The API on a real uvicorn server on loopback, configured by `bootstrap.api_server_config`
(the production settings), with small limits so the socket tests stay quick."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from slipway.api import create_app
from slipway.api.limits import ApiLimits
from slipway.bootstrap import api_server_config
from slipway.services.platform import Platform

LIMITS = ApiLimits(
    rate_burst=0,
    max_body_bytes=2048,
    max_header_bytes=4096,
    max_ws_frame_bytes=1024,
    keep_alive_seconds=1,
    body_seconds=1.5,
    max_per_client=300,
)
HEAD_TIMEOUT = 1.5


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@contextlib.asynccontextmanager
async def serving(platform: Platform, limits: ApiLimits = LIMITS) -> AsyncIterator[tuple[str, int]]:
    """`(host, port)` of the API served with `limits`, until the block ends."""
    app = create_app(platform, limits=limits)
    config = api_server_config(
        app, host="127.0.0.1", port=0, limits=limits, head_timeout=HEAD_TIMEOUT
    )
    config.log_level = "error"
    server = _Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        for _ in range(1500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(task, 60)
