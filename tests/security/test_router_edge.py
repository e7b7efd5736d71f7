"""The router as public ingress, attacked through real sockets (issue 11): request smuggling
through `Upgrade`, hostile `Host` values, garbage, oversized heads, slow and idle clients.

The backend is Python's own `http.server` at HTTP/1.1 with keep-alive: the server the
smuggling worked against (it ignores `Upgrade` and answers 200)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from slipway.domain.routes import Backend, Route, Target
from slipway.router import RouterServer
from slipway.router.limits import EdgeLimits

HOST = "shop.victim.localhost"


class KeepAliveApp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    captured: list[bytes] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(f"path={self.path} cookie={self.headers.get('Cookie')}".encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).captured.append(body)
        self._answer(b"stored")

    def do_PUT(self) -> None:  # answers only after a while: a slow app, or a long poll
        time.sleep(float(self.path.strip("/") or "0"))
        self._answer(b"late")


@pytest.fixture
def app() -> Iterator[int]:
    KeepAliveApp.captured = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveApp)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def make_router(app: int) -> AsyncIterator[Callable[..., Awaitable[RouterServer]]]:
    started: list[RouterServer] = []

    async def make(**limits: float) -> RouterServer:
        server = RouterServer(registry=None, limits=EdgeLimits(**limits))  # type: ignore[arg-type]
        await server.start("127.0.0.1", 0)
        target = Target("ws/app/shop-00001", 100, (Backend("127.0.0.1", app),))
        server.set_routes("app", [Route(HOST, (target,))])
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            await server.close()


@pytest.fixture
async def router(make_router: Callable[..., Awaitable[RouterServer]]) -> RouterServer:
    return await make_router()


async def exchange(port: int, raw: bytes, *, timeout: float = 5.0) -> bytes:
    """Send `raw` on a fresh connection; everything the router answers until it closes or
    goes quiet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    got = await read_all(reader, timeout)
    writer.close()
    return got


async def read_all(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """What arrives until the connection ends (a reset included) or goes quiet."""
    got = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            got += chunk
    return got


async def test_an_upgrade_the_backend_ignores_does_not_smuggle_a_request(
    router: RouterServer,
) -> None:
    """An anonymous client captured another user's next request (its Cookie) through an
    upstream connection that went back to the pool carrying the attacker's bytes."""
    attack = (
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        f"POST /capture HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 400\r\n\r\n"
    ).encode()
    answer = await exchange(router.port, attack, timeout=1.0)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    victim = f"GET /private HTTP/1.1\r\nHost: {HOST}\r\nCookie: session=victim-secret\r\n\r\n"
    for _ in range(3):
        got = await exchange(router.port, victim.encode(), timeout=1.0)
        assert b"path=/private cookie=session=victim-secret" in got, got
    assert not any(b"victim-secret" in body for body in KeepAliveApp.captured)


def status_lines(answer: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]+", answer)


@pytest.mark.parametrize(
    "head",
    [
        f"GET / HTTP/1.1\r\nHost: {HOST}:@evil\r\n\r\n",  # routed to the app before
        f"GET / HTTP/1.1\r\nHost: user@{HOST}\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nHost: other.localhost\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        f"POST / HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nX-A: one\r\n folded\r\n\r\n",  # obs-fold
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_hostile_heads_are_400_and_close(router: RouterServer, head: str) -> None:
    answer = await exchange(router.port, head.encode())
    assert status_lines(answer) == [b"HTTP/1.1 400 Bad Request"], answer
    assert router.edge["bad_request"] == 1
    assert not KeepAliveApp.captured


async def test_absolute_form_routes_by_its_authority(router: RouterServer) -> None:
    raw = f"GET http://{HOST}/abs?q=1 HTTP/1.1\r\nHost: elsewhere.localhost\r\n\r\n"
    answer = await exchange(router.port, raw.encode(), timeout=1.0)
    assert b"path=/abs?q=1" in answer, answer


async def test_garbage_after_a_request_gets_the_answer_then_400(router: RouterServer) -> None:
    raw = f"GET /first HTTP/1.1\r\nHost: {HOST}\r\n\r\nNOT HTTP AT ALL\r\n\r\n"
    answer = await exchange(router.port, raw.encode())
    assert status_lines(answer) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"], answer
    assert b"path=/first" in answer


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("GET / HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: Upgrade\r\n"
         "Upgrade: websocket\r\n\r\n", b"HTTP/1.1 404 Not Found"),
        ("CONNECT nobody.localhost:443 HTTP/1.1\r\nHost: nobody.localhost:443\r\n\r\n",
         b"HTTP/1.1 405 Method Not Allowed"),
        (f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n",
         b"HTTP/1.1 405 Method Not Allowed"),
        ("POST / HTTP/1.1\r\nHost: nobody.localhost\r\nContent-Length: 10\r\n"
         "Expect: 100-continue\r\n\r\n", b"HTTP/1.1 404 Not Found"),
    ],
)  # fmt: skip
async def test_refusals_come_at_once_without_a_traceback(
    router: RouterServer, head: str, status: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrade/CONNECT to an unknown host raised IndexError; Expect: 100-continue to one
    waited for the body before its 404."""
    started = time.monotonic()
    answer = await exchange(router.port, head.encode(), timeout=3.0)
    assert status_lines(answer) == [status], answer
    assert time.monotonic() - started < 1.0  # closed by the router, not the client's timeout
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_oversized_head_is_431_and_bounded(router: RouterServer) -> None:
    """A 64 MiB header line grew the router by ~110 MB; now the head stops at its limit."""
    big = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * 70_000}"
    answer = await exchange(router.port, big.encode())
    assert status_lines(answer) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    many = "".join(f"X-{i}: v\r\n" for i in range(150))
    answer = await exchange(router.port, f"GET / HTTP/1.1\r\nHost: {HOST}\r\n{many}\r\n".encode())
    assert status_lines(answer) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(b"GET / HTTP/1.1\r\nX-Huge: ")
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 64 << 20:
            writer.write(b"a" * (1 << 16))
            await writer.drain()
            sent += 1 << 16
    await read_all(reader)
    writer.close()
    assert sent < 8 << 20  # the router hung up long before 64 MiB
    assert router.edge["head_too_large"] == 3


async def test_silent_and_slow_heads_are_cut_off(
    make_router: Callable[..., Awaitable[RouterServer]],
) -> None:
    """300 silent connections stayed open; a head dribbled for 25 s was still served."""
    router = await make_router(head_seconds=1.0)
    silent = [await asyncio.open_connection("127.0.0.1", router.port) for _ in range(20)]
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
    started = time.monotonic()
    with contextlib.suppress(ConnectionError):
        for i in range(25):
            writer.write(f"X-Slow-{i}: 1\r\n".encode())
            await writer.drain()
            await asyncio.sleep(0.2)
    # Closed mid-dribble (its 408 may be lost to the reset the next written byte causes).
    assert status_lines(await read_all(reader)) in ([b"HTTP/1.1 408 Request Timeout"], [])
    assert time.monotonic() - started < 5.0  # a deadline of 1 s fires within 3 s
    for r, w in silent:
        assert status_lines(await read_all(r)) == [b"HTTP/1.1 408 Request Timeout"]
        w.close()
    assert not router.connections
    assert router.edge["head_timeout"] == 21


async def test_idle_keep_alive_connections_close(
    make_router: Callable[..., Awaitable[RouterServer]],
) -> None:
    router = await make_router(idle_seconds=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), 5)  # answered, then closed when idle
    assert status_lines(answer) == [b"HTTP/1.1 200 OK"]
    assert 0.9 < time.monotonic() - started < 4.0
    assert router.edge["idle_timeout"] == 1
    writer.close()


async def test_a_replica_too_slow_to_answer_is_504(
    make_router: Callable[..., Awaitable[RouterServer]],
) -> None:
    router = await make_router(response_head_seconds=1.0)
    started = time.monotonic()
    answer = await exchange(router.port, f"PUT /8 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert status_lines(answer) == [b"HTTP/1.1 504 Gateway Timeout"]
    assert time.monotonic() - started < 6.0  # the app would answer at 8 s
    long_poll = await exchange(
        router.port, f"PUT /0.5 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(), timeout=2.0
    )
    assert b"late" in long_poll


async def test_connection_caps_answer_503(
    make_router: Callable[..., Awaitable[RouterServer]],
) -> None:
    router = await make_router(max_per_client=5, max_connections=8)
    held = [await asyncio.open_connection("127.0.0.1", router.port) for _ in range(5)]
    await asyncio.sleep(0.1)
    answer = await exchange(router.port, b"", timeout=2.0)
    assert status_lines(answer) == [b"HTTP/1.1 503 Service Unavailable"]
    assert router.edge["rejected_per_client"] == 1
    for _, w in held:
        w.close()
    await asyncio.sleep(0.1)
    ok = await exchange(
        router.port, f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    )
    assert status_lines(ok) == [b"HTTP/1.1 200 OK"]
