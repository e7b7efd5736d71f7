"""Request limits over a real socket: header size, body size, WebSocket frame size, and the
timeouts of idle, slow and kept-alive connections, against uvicorn configured exactly as
`slipway up` configures it (`bootstrap.api_server_config`). Loopback only; every loop is
bounded."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
from tests.security.socket_server import HEAD_TIMEOUT, LIMITS, serving
from tests.security.tenants import Tenant
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from slipway.services.platform import Platform

GRACE = 30.0  # generous: the machine is shared; the deadlines under test are 1-2 s


@pytest.fixture
async def address(platform: Platform) -> AsyncIterator[tuple[str, int]]:
    async with serving(platform) as found:
        yield found


async def _exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send `data`, then read everything until the server closes (or GRACE passes)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), GRACE)
    finally:
        writer.close()


async def _closed_after(reader: asyncio.StreamReader) -> float:
    """Seconds until the server closes the connection (reads until EOF)."""
    start = time.monotonic()
    async with asyncio.timeout(GRACE):
        while await reader.read(65536):
            pass
    return time.monotonic() - start


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_an_oversized_header_block_is_refused(
    address: tuple[str, int], alpha: Tenant
) -> None:
    big = b"X-Filler: " + b"a" * (LIMITS.max_header_bytes * 2) + b"\r\n"
    head = b"GET " + alpha.base.encode() + b"/apps HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n"
    answer = await _exchange(address, head)  # one read: measured by HeaderLimit
    assert _status(answer) == 431
    assert b"application/problem+json" in answer
    reader, writer = await asyncio.open_connection(*address)
    try:  # in pieces: h11 gives up once its buffer passes the limit
        with contextlib.suppress(ConnectionError):  # the server may hang up mid-write
            for i in range(0, len(head), 1024):
                writer.write(head[i : i + 1024])
                await writer.drain()
                await asyncio.sleep(0.01)
        try:
            pieces = await asyncio.wait_for(reader.read(), GRACE)
        except ConnectionError:
            pieces = b""  # refused and hung up before we could read the 400
    finally:
        writer.close()
    assert pieces == b"" or _status(pieces) in (400, 431)
    small = await _exchange(
        address,
        f"GET {alpha.base}/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alpha.key}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert _status(small) == 200


async def test_an_oversized_body_is_413_declared_or_streamed(
    address: tuple[str, int], alpha: Tenant
) -> None:
    head = (
        f"POST {alpha.base}/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alpha.key}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
    ).encode()
    body = b"{" + b" " * (LIMITS.max_body_bytes * 2) + b"}"
    declared = await _exchange(
        address, head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    assert _status(declared) == 413
    assert b"application/problem+json" in declared
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 512]), body[i : i + 512])
        for i in range(0, len(body), 512)
    )
    streamed = await _exchange(
        address, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert _status(streamed) == 413


async def test_a_connection_that_sends_nothing_is_closed(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        assert await _closed_after(reader) >= HEAD_TIMEOUT * 0.5
    finally:
        writer.close()


async def test_a_slowloris_head_is_cut_off(address: tuple[str, int], alpha: Tenant) -> None:
    reader, writer = await asyncio.open_connection(*address)
    closed = asyncio.ensure_future(_closed_after(reader))
    try:
        writer.write(f"GET {alpha.base}/apps HTTP/1.1\r\nHost: x\r\n".encode())
        for i in range(int(GRACE / 0.2)):  # one header byte every 0.2 s, bounded
            if closed.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Slow-%d: y\r\n" % i)
                await writer.drain()
            await asyncio.sleep(0.2)
        assert closed.done(), "the server kept a slow head open"
        await closed
    finally:
        closed.cancel()
        writer.close()


async def test_an_idle_kept_alive_connection_is_closed(
    address: tuple[str, int], alpha: Tenant
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        auth = f"Authorization: Bearer {alpha.key}\r\n"
        writer.write(f"GET {alpha.base}/apps HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GRACE)
        assert _status(first) == 200
        await _closed_after(reader)  # keep-alive timeout, then EOF
    finally:
        writer.close()


def _stream(address: tuple[str, int], alpha: Tenant) -> str:
    host, port = address
    return f"ws://{host}:{port}{alpha.base}/deploy/{alpha.queued_id}/logs/stream?token={alpha.key}"


async def test_an_oversized_websocket_frame_closes_the_stream(
    address: tuple[str, int], alpha: Tenant
) -> None:
    async with connect(_stream(address, alpha), open_timeout=GRACE) as ws:
        await ws.send("x" * (LIMITS.max_ws_frame_bytes * 2))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(GRACE):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big


async def test_the_head_deadline_leaves_an_open_websocket_alone(
    address: tuple[str, int], alpha: Tenant
) -> None:
    async with connect(_stream(address, alpha), open_timeout=GRACE) as ws:
        await asyncio.sleep(HEAD_TIMEOUT * 2)
        pong = await ws.ping()
        await asyncio.wait_for(pong, GRACE)
        await ws.send("small")  # under the frame limit: ignored, not fatal
        pong = await ws.ping()
        await asyncio.wait_for(pong, GRACE)
        assert ws.close_code is None  # still open, long past the head deadline


async def _stall(
    address: tuple[str, int], head: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(head)
    await writer.drain()
    return reader, writer


async def test_stalled_bodies_without_a_key_do_not_stop_the_api(
    address: tuple[str, int], alpha: Tenant
) -> None:
    """~1,000 POSTs that never finished their body (no key needed: the body was read before
    authentication) made every API request answer 503 until they were released."""
    head = (
        f"POST {alpha.base}/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{"
    ).encode()
    stalled = []
    for _ in range(250):  # the per-client cap here is 300
        stalled.append(await _stall(address, head))
    answers = await asyncio.gather(*(asyncio.wait_for(r.read(), GRACE) for r, _ in stalled))
    assert all(_status(a) == 401 for a in answers), {_status(a) for a in answers}
    for _, w in stalled:
        w.close()
    ok = f"GET {alpha.base}/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alpha.key}\r\n"
    assert _status(await _exchange(address, (ok + "Connection: close\r\n\r\n").encode())) == 200


async def test_an_authenticated_body_that_stalls_is_408(
    address: tuple[str, int], alpha: Tenant
) -> None:
    head = (
        f"POST {alpha.base}/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alpha.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    ).encode()
    reader, writer = await _stall(address, head)
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), GRACE)
    writer.close()
    assert _status(answer) == 408
    assert 1.0 < time.monotonic() - started < 1.5 + 5


async def test_one_address_cannot_take_every_connection(address: tuple[str, int]) -> None:
    held = [await asyncio.open_connection(*address) for _ in range(LIMITS.max_per_client)]
    try:
        answer = await _exchange(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(answer) == 503
        assert b"Too many connections" in answer
    finally:
        for _, w in held:
            w.close()
    await asyncio.sleep(0.2)
    answer = await _exchange(
        address, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert _status(answer) == 200


async def test_a_rotated_forwarded_for_header_is_still_rate_limited(platform: Platform) -> None:
    """The rate limit trusted X-Forwarded-For from loopback clients (uvicorn's default):
    rotating it gave every request a fresh bucket."""
    limits = dataclasses.replace(LIMITS, rate_burst=5, rate_per_second=0.01)
    async with serving(platform, limits) as address:
        statuses = []
        for i in range(12):
            head = "GET /api/v1/workspaces/ws_x/apps HTTP/1.1\r\nHost: x\r\n"
            head += f"X-Forwarded-For: 10.9.{i}.1\r\nConnection: close\r\n\r\n"
            statuses.append(_status(await _exchange(address, head.encode())))
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}, statuses
