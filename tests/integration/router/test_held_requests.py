"""Requests for a cold revision through a real router: held, then sent to the replica that
appears; answered 503 when it does not come. The router process (`RemoteRouter`) passes the
ask and the refusal over its control socket."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from backends import Backend

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer
from slipway.router.limits import EdgeLimits
from slipway.router.remote import RemoteRouter

HOST = "web.acme.localhost"
KEY = "ws/app/r1"


def cold(key: str = KEY, weight: int = 100) -> Target:
    return Target(key, weight, (), cold=True)


def warm(key: str, weight: int, server: Backend) -> Target:
    return Target(key, weight, (B("127.0.0.1", server.port),))


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def client(port: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=200)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Host": HOST}, timeout=30, limits=limits
    )


async def test_held_requests_are_sent_to_the_replica_once_it_is_routed(
    router: RouterServer, backends: list[Backend]
) -> None:
    asked: list[str] = []
    router.on_activate(asked.append)
    router.set_routes("app", [Route(HOST, (cold(),))])
    async with client(router.port) as c:
        waiting = [asyncio.create_task(c.get(f"/{n}")) for n in range(50)]
        await until(lambda: router.activations.held(KEY) == 50)
        assert asked == [KEY]
        assert router.in_flight(KEY) == 50  # held requests are load (the autoscaler's input)
        a = Backend("a")
        backends.append(a)
        router.set_routes("app", [Route(HOST, (warm(KEY, 100, a),))])
        answers = await asyncio.gather(*waiting)
    assert [(r.status_code, r.text) for r in answers] == [(200, "a")] * 50
    assert router.in_flight(KEY) == 0 and router.edge["activation_released"] == 50


async def test_a_split_with_a_cold_revision_holds_only_its_share(
    router: RouterServer, backends: list[Backend]
) -> None:
    b = Backend("b")
    backends.append(b)
    router.set_routes("app", [Route(HOST, (cold(KEY, 10), warm("ws/app/r2", 90, b)))])
    async with client(router.port) as c:
        answers = [asyncio.create_task(c.get("/")) for _ in range(100)]
        await until(lambda: router.activations.held(KEY) == 10)
        a = Backend("a")
        backends.append(a)
        router.set_routes("app", [Route(HOST, (warm(KEY, 10, a), warm("ws/app/r2", 90, b)))])
        seen = Counter([(await t).text for t in answers])
    assert seen == {"a": 10, "b": 90}


async def test_a_client_that_leaves_while_held_is_skipped(
    router: RouterServer, backends: list[Backend]
) -> None:
    router.set_routes("app", [Route(HOST, (cold(),))])
    with socket.create_connection(("127.0.0.1", router.port)) as gone:
        gone.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await until(lambda: router.activations.held(KEY) == 1)
    await until(lambda: router.in_flight(KEY) == 0)
    a = Backend("a")
    backends.append(a)
    router.set_routes("app", [Route(HOST, (warm(KEY, 100, a),))])
    async with client(router.port) as c:
        assert (await c.get("/")).text == "a"
    assert router.edge["activation_released"] == 0
    assert len(a.peers) == 1  # the gone client's request never reached the replica


@pytest.fixture
async def strict_router() -> AsyncIterator[RouterServer]:
    server = RouterServer(limits=EdgeLimits(hold_seconds=1.0, max_held=3))
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()


async def test_bounded_in_number_and_in_time(strict_router: RouterServer) -> None:
    router = strict_router
    router.set_routes("app", [Route(HOST, (cold(),))])
    async with client(router.port) as c:
        held = [asyncio.create_task(c.get("/")) for _ in range(3)]
        await until(lambda: router.activations.held(KEY) == 3)
        full = await c.get("/")
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert "too many requests waiting" in full.text
        late = await asyncio.gather(*held)  # within a sweep or two of the 1 s
    assert {r.status_code for r in late} == {503}
    assert "did not start within 1 seconds" in late[0].text
    assert router.activations.held(KEY) == 0 and router.in_flight(KEY) == 0


async def test_a_refused_start_answers_with_its_reason(router: RouterServer) -> None:
    router.set_routes("app", [Route(HOST, (cold(),))])
    async with client(router.port) as c:
        held = asyncio.create_task(c.post("/", content=b"x" * 1000))
        await until(lambda: router.activations.held(KEY) == 1)
        router.refuse_held(KEY, "the app exited with status 3 before becoming healthy", 5.0)
        answer = await held
        again = await c.get("/")
    for r in (answer, again):
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.text.startswith("The app could not start: the app exited with status 3")


async def test_the_router_process_asks_and_refuses_over_its_socket(
    backends: list[Backend],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    remote = RemoteRouter(host="127.0.0.1", port=port)
    asked: list[str] = []
    remote.on_activate(asked.append)
    await remote.start()
    try:
        remote.set_routes("app", [Route(HOST, (cold(),))])
        await remote.settled()
        async with client(port) as c:
            first = [asyncio.create_task(c.get("/")) for _ in range(5)]
            await until(lambda: asked == [KEY] and remote.in_flight(KEY) == 5)
            a = Backend("a")
            backends.append(a)
            remote.set_routes("app", [Route(HOST, (warm(KEY, 100, a),))])
            assert [r.text for r in await asyncio.gather(*first)] == ["a"] * 5
            remote.set_routes("app", [Route(HOST, (cold(),))])
            await remote.settled()
            second = asyncio.create_task(c.get("/"))
            await until(lambda: remote.in_flight(KEY) == 1)
            remote.refuse_held(KEY, "out of memory", 2.0)
            r = await second
        assert r.status_code == 503 and "out of memory" in r.text
    finally:
        await remote.close()
