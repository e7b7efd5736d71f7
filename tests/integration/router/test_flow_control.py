"""Back-pressure from a slow client must not leak into the next request: an upstream
connection that was paused for a slow reader goes back to the pool reading again."""

from __future__ import annotations

import asyncio

from backends import Backend

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer

HOST = "web.acme.localhost"
SIZE = 8 * 1024 * 1024


async def test_slow_reader_then_next_request_on_the_same_connection(
    router: RouterServer, backends: list[Backend]
) -> None:
    a = Backend("a")
    backends.append(a)
    router.set_routes("app", [Route(HOST, (Target("w/app/r1", 100, (B("127.0.0.1", a.port),)),))])
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port, limit=2**16)
    for _ in range(3):
        writer.write(f"GET /big?n={SIZE} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        received = b""
        while not received.endswith(b"0\r\n\r\n"):  # slowly: the router must pause upstream
            received += await asyncio.wait_for(reader.read(32768), 30)
            await asyncio.sleep(0.0005)
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200")
        assert await asyncio.wait_for(reader.readexactly(1), 30) == b"a"
    writer.close()
    assert router.in_flight("w/app/r1") == 0
