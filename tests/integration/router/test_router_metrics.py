"""What the router counts, read back from prometheus_client's default registry, and
`in_flight` staying exact when requests finish, fail and are abandoned under load."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
from backends import Backend
from prometheus_client import REGISTRY

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer

HOST = "web.acme.localhost"
KEY = "ws1/app1/web-00001"


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def routes(router: RouterServer, *backends: Backend | int) -> None:
    ports = [b if isinstance(b, int) else b.port for b in backends]
    target = Target(KEY, 100, tuple(B("127.0.0.1", p) for p in ports))
    router.set_routes("app1", [Route(HOST, (target,))])


async def settle(router: RouterServer, key: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while router.in_flight(key) != 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_counts_by_class_latency_and_errors(
    router: RouterServer, backends: list[Backend]
) -> None:
    a = Backend("a")
    backends.append(a)
    routes(router, a)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.port}", headers={"Host": HOST}, timeout=30
    ) as c:
        for path, n in (("/", 3), ("/status/302", 1), ("/status/404", 2), ("/status/503", 1)):
            for _ in range(n):
                await c.get(path)
        assert (await c.get("/reset")).status_code == 502  # hangs up: retried, then 502
    labels = {"app": "app1", "revision": "web-00001"}
    counts = {code: sample("slipway_router_requests_total", code=code, **labels) for code in
              ("2xx", "3xx", "4xx", "5xx")}  # fmt: skip
    assert counts == {"2xx": 3, "3xx": 1, "4xx": 2, "5xx": 2}
    assert sample("slipway_router_request_duration_seconds_count", **labels) == 8
    assert sample("slipway_router_request_duration_seconds_bucket", le="+Inf", **labels) == 8
    total = sample("slipway_router_request_duration_seconds_sum", **labels)
    assert total is not None and total > 0
    assert (sample("slipway_router_upstream_errors_total", **labels) or 0) >= 1


async def test_refused_upstream_counts_errors_and_close_unregisters(
    router: RouterServer,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    routes(router, dead)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}", timeout=30) as c:
        r = await c.get("/", headers={"Host": HOST})
    assert r.status_code == 502
    labels = {"app": "app1", "revision": "web-00001"}
    assert sample("slipway_router_upstream_errors_total", **labels) == 1
    assert sample("slipway_router_requests_total", code="5xx", **labels) == 1
    await router.close()
    assert sample("slipway_router_upstream_errors_total", **labels) is None


async def test_in_flight_exact_under_mixed_load(
    router: RouterServer, backends: list[Backend]
) -> None:
    """Finished, failed and abandoned requests all leave `in_flight`; while 30 requests
    wait on the backend it says 30."""
    a = Backend("a")
    backends.append(a)
    routes(router, a)

    async def abandon() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(f"GET /sleep/0.5 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()  # gone before the answer

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{router.port}", headers={"Host": HOST}, timeout=60,
        limits=limits,
    ) as c:  # fmt: skip
        slow = [asyncio.create_task(c.get("/sleep/3")) for _ in range(30)]
        deadline = time.monotonic() + 30
        while router.in_flight(KEY) < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert router.in_flight(KEY) == 30
        mixed = [c.get(p) for p in ("/", "/status/500", "/reset", "/big?n=262144") * 10]
        results = await asyncio.gather(*mixed, *(abandon() for _ in range(10)))
        assert {r.status_code for r in results if r is not None} == {200, 500, 502}
        assert all(r.status_code == 200 for r in await asyncio.gather(*slow))
    await settle(router, KEY)
    assert router.in_flight(KEY) == 0
