"""RouterServer end to end: real loopback backends, a real router on port 0."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from backends import Backend
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer

HOST = "web.acme.localhost"


def start(backends: list[Backend], name: str) -> Backend:
    b = Backend(name)
    backends.append(b)
    return b


def target(rev: str, weight: int, *servers: Backend) -> Target:
    return Target(rev, weight, tuple(B("127.0.0.1", s.port) for s in servers))


@pytest.fixture
async def client(router: RouterServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.port}", headers={"Host": HOST}, timeout=10
    ) as c:
        yield c


async def test_exact_split(
    router: RouterServer, backends: list[Backend], client: httpx.AsyncClient
) -> None:
    a, b1, b2 = start(backends, "a"), start(backends, "b"), start(backends, "b")
    router.set_routes("app", [Route(HOST, (target("r1", 10, a), target("r2", 90, b1, b2)))])
    seen = Counter([(await client.get("/")).text for _ in range(100)])
    assert seen == {"a": 10, "b": 90}
    assert len(b1.peers) >= 1 and len(b2.peers) >= 1  # round-robin over the target's backends


async def test_unknown_host_and_no_backends(
    router: RouterServer, client: httpx.AsyncClient
) -> None:
    r = await client.get("/", headers={"Host": "nobody.localhost"})
    assert r.status_code == 404 and r.text
    router.set_routes("app", [Route(HOST, (Target("r1", 100, ()),))])
    r = await client.get("/")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    router.remove_app("app")
    assert (await client.get("/")).status_code == 404


async def test_keep_alive_both_sides(router: RouterServer, backends: list[Backend]) -> None:
    a = start(backends, "a")
    router.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.port}",
        headers={"Host": f"{HOST}:8080"},
        limits=httpx.Limits(max_connections=1),
    ) as c:
        for _ in range(5):
            assert (await c.get("/")).text == "a"
        assert len(router.connections) == 1
    assert len(a.peers) == 1


async def test_pipelined_requests(router: RouterServer, backends: list[Backend]) -> None:
    a = start(backends, "a")
    router.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    req = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    writer.write(req * 3)
    data = b""
    while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"a"):
        data += await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert data.count(b"HTTP/1.1 200") == 3  # three answers, in order, none mixed up
    assert data.count(b"HTTP/1.1 ") == 3


async def test_bodies_and_streaming(
    router: RouterServer, backends: list[Backend], client: httpx.AsyncClient
) -> None:
    a = start(backends, "a")
    router.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
    payload = bytes(range(256)) * 4096
    r = await client.post("/echo", content=payload)
    assert r.json() == {"len": len(payload), "sha": hashlib.sha256(payload).hexdigest()}

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(50):
            yield payload[i * 1000 : (i + 1) * 1000]

    r = await client.post("/echo", content=chunks())
    assert r.json()["len"] == 50_000
    total = 0
    async with client.stream("GET", "/big?n=20971520") as resp:
        async for part in resp.aiter_raw():
            total += len(part)
    assert total == 20971520
    r = await client.get("/close")
    assert r.text == "until-close " * 1000
    assert (await client.get("/")).text == "a"


async def test_forwarded_headers(
    router: RouterServer, backends: list[Backend], client: httpx.AsyncClient
) -> None:
    a = start(backends, "a")
    router.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
    r = await client.get("/headers", headers={"X-Forwarded-For": "10.0.0.1", "X-Custom": "yes"})
    headers = {k.lower(): v for k, v in r.json().items()}
    assert headers["host"] == HOST
    assert headers["x-forwarded-for"] == "127.0.0.1"  # a client's own claim is not passed on
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == HOST
    assert headers["x-custom"] == "yes"


async def test_forwarded_for_from_a_trusted_proxy_is_kept(backends: list[Backend]) -> None:
    behind = RouterServer(registry=None, trusted=["127.0.0.1"])
    await behind.start("127.0.0.1", 0)
    try:
        a = start(backends, "a")
        behind.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{behind.port}") as c:
            r = await c.get("/headers", headers={"Host": HOST, "X-Forwarded-For": "10.0.0.1"})
        assert r.json()["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"
    finally:
        await behind.close()


async def test_websocket_echo(router: RouterServer) -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        router.set_routes(
            "app", [Route("127.0.0.1", (Target("r1", 100, (B("127.0.0.1", port),)),))]
        )
        async with ws_connect(f"ws://127.0.0.1:{router.port}/chat") as ws:
            for text in ("hello", "x" * 100_000):
                await ws.send(text)
                assert await ws.recv() == text


async def test_retry_on_refused(
    router: RouterServer, backends: list[Backend], client: httpx.AsyncClient
) -> None:
    a = start(backends, "a")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    dead_target = Target("r1", 100, (B("127.0.0.1", dead), B("127.0.0.1", a.port)))
    router.set_routes("app", [Route(HOST, (dead_target,))])
    assert [(await client.get("/")).text for _ in range(4)] == ["a"] * 4
    router.set_routes("app", [Route(HOST, (Target("r1", 100, (B("127.0.0.1", dead),)),))])
    assert (await client.get("/")).status_code == 502


async def test_swap_routes_during_slow_request(
    router: RouterServer, backends: list[Backend], client: httpx.AsyncClient
) -> None:
    old, new = start(backends, "old"), start(backends, "new")
    router.set_routes("app", [Route(HOST, (target("r1", 100, old),))])
    slow = asyncio.create_task(client.get("/slow"))
    await asyncio.sleep(0.3)
    assert router.in_flight("r1") == 1
    router.set_routes("app", [Route(HOST, (target("r2", 100, new),))])
    assert (await client.get("/")).text == "new"
    assert (await slow).text == "slow old"
    assert router.in_flight("r1") == 0


async def test_client_disconnect_mid_request(router: RouterServer, backends: list[Backend]) -> None:
    a = start(backends, "a")
    router.set_routes("app", [Route(HOST, (target("r1", 100, a),))])
    _reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(f"GET /slow HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    await asyncio.sleep(0.3)
    assert router.in_flight("r1") == 1
    writer.close()
    await asyncio.sleep(0.2)
    assert router.in_flight("r1") == 0
    assert not router.connections
