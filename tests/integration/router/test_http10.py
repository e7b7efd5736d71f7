"""HTTP/1.0 clients through the router: de-chunked bodies, honest Connection headers.

Driven with curl --http1.0 (a real HTTP/1.0 client) and with raw sockets where the exact
bytes on the wire matter (keep-alive on one connection, HEAD)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from backends import Backend

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer

HOST = "old.acme.localhost"


@pytest.fixture
def backend(router: RouterServer, backends: list[Backend]) -> Backend:
    b = Backend("a")
    backends.append(b)
    router.set_routes(
        "app", [Route(HOST, (Target("w/app/old-00001", 100, (B("127.0.0.1", b.port),)),))]
    )
    return b


async def curl10(router: RouterServer, path: str, host: str = HOST) -> tuple[str, bytes]:
    """Headers (text) and body (bytes) as curl --http1.0 got them."""
    proc = await asyncio.create_subprocess_exec(
        *("curl", "--http1.0", "-sS", "--max-time", "30", "-D", "-", "-H", f"Host: {host}"),
        *("--", f"http://127.0.0.1:{router.port}{path}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode(), body


async def exchange(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, req: bytes) -> bytes:
    writer.write(req)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    return head


async def test_chunked_response_reaches_curl_http10_dechunked(
    router: RouterServer, backend: Backend
) -> None:
    head, body = await curl10(router, "/big?n=1048576")
    assert head.startswith("HTTP/1.1 200")
    lower = head.lower()
    assert "transfer-encoding" not in lower
    assert "connection: close" in lower
    assert body == b"x" * 1048576  # no chunk framing left in the body


async def test_sized_response_and_errors_for_curl_http10(
    router: RouterServer, backend: Backend
) -> None:
    head, body = await curl10(router, "/")
    assert head.startswith("HTTP/1.1 200") and body == b"a"
    assert "content-length: 1" in head.lower()
    head, body = await curl10(router, "/", "nobody.localhost")
    assert head.startswith("HTTP/1.1 404") and body


async def test_keep_alive_only_when_asked_and_sized(router: RouterServer, backend: Backend) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    req = f"GET / HTTP/1.0\r\nHost: {HOST}\r\nConnection: keep-alive\r\n\r\n".encode()
    for _ in range(3):  # the same connection, three times
        head = await exchange(writer, reader, req)
        assert b"Connection: keep-alive" in head
        assert await asyncio.wait_for(reader.readexactly(1), 30) == b"a"
    # A chunked answer cannot be delimited for HTTP/1.0: close after it.
    head = await exchange(
        writer,
        reader,
        f"GET /big?n=65536 HTTP/1.0\r\nHost: {HOST}\r\nConnection: keep-alive\r\n\r\n".encode(),
    )
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head
    assert await asyncio.wait_for(reader.read(), 30) == b"x" * 65536  # then EOF
    writer.close()


async def test_plain_http10_closes_and_head_has_no_body(
    router: RouterServer, backend: Backend
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(f"HEAD / HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 30)  # the router closes: read to EOF
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n")
    assert b"Content-Length: 1234" in data and b"Connection: close" in data
    writer.close()
    assert (await curl10(router, "/"))[1] == b"a"  # the upstream connection is still sound
    await asyncio.sleep(0)
    assert router.in_flight("w/app/old-00001") == 0
