"""A real LocalRuntime for each test, closed (every replica stopped) afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from slipway.domain.routes import Backend
from slipway.runtime.local import LocalRuntime
from slipway.sandbox.netns import open_connection


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    rt = LocalRuntime()
    yield rt
    await rt.close()


async def http_get(backend: Backend, path: str = "/") -> tuple[int, str]:
    """GET `path` from a replica, connecting inside its network namespace (as the router
    does); (status, body)."""
    reader, writer = await open_connection(backend.host, backend.port, backend.netns)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()
