"""The router as a process of its own (`RemoteRouter` + `router/child.py`), as `slipway up`
runs it: routes live once `settled()` returns, in-flight counts reach the control process,
a killed router comes back with every route, and it never outlives its parent."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import httpx
import pytest
from backends import Backend

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router.remote import RemoteRouter, RouterChildFailed

HOST = "web.acme.localhost"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def route(key: str, *servers: Backend) -> list[Route]:
    return [Route(HOST, (Target(key, 100, tuple(B("127.0.0.1", s.port) for s in servers)),))]


@pytest.fixture
async def remote() -> AsyncIterator[RemoteRouter]:
    router = RemoteRouter(host="127.0.0.1", port=free_port())
    await router.start()
    yield router
    await router.close()


@pytest.fixture
async def serving(remote: RemoteRouter, backends: list[Backend]) -> Backend:
    """A backend answering "a", routed as revision `ws/app/r1` of app `app`."""
    a = Backend("a")
    backends.append(a)
    remote.set_routes("app", route("ws/app/r1", a))
    await remote.settled()
    return a


async def aget(router: RemoteRouter, path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as c:
        return await c.get(f"http://127.0.0.1:{router.port}{path}", headers={"Host": HOST})


async def until(check: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_routes_serve_once_settled_from_another_process(
    remote: RemoteRouter, backends: list[Backend]
) -> None:
    a, b = Backend("a"), Backend("b")
    backends += [a, b]
    assert remote.pid is not None and remote.pid != os.getpid()
    remote.set_routes("app", route("r1", a))
    await remote.settled()
    assert (await aget(remote)).text == "a"
    remote.set_routes("app", route("r2", b))
    await remote.settled()
    assert (await aget(remote)).text == "b"  # no request in between: settled means live
    remote.remove_app("app")
    await remote.settled()
    assert (await aget(remote)).status_code == 404


async def test_in_flight_counts_reach_the_control_process(
    remote: RemoteRouter, serving: Backend
) -> None:
    slow = asyncio.get_running_loop().create_task(aget(remote, "/sleep/1"))
    await until(lambda: remote.in_flight("ws/app/r1") == 1)
    assert (await slow).text == "slept"
    await until(lambda: remote.in_flight("ws/app/r1") == 0)
    # and the autoscaler's load, every second: one request, about one second in flight
    await until(lambda: remote.load().get("ws/app/r1", (0.0, 0))[0] >= 0.9)
    busy, requests = remote.load()["ws/app/r1"]
    assert requests == 1 and busy <= 1.5


async def test_a_killed_router_comes_back_with_every_route(
    remote: RemoteRouter, serving: Backend
) -> None:
    first = remote.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await until(lambda: remote.restarts == 1)
    await remote.settled()
    assert remote.pid not in (None, first)
    assert (await aget(remote)).text == "a"


async def test_the_router_ignores_the_terminals_ctrl_c(
    remote: RemoteRouter, serving: Backend
) -> None:
    pid = remote.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)  # the control process decides when the router stops
    await asyncio.sleep(0.2)
    assert remote.pid == pid and (await aget(remote)).text == "a"


async def test_metrics_come_from_the_router_process(remote: RemoteRouter, serving: Backend) -> None:
    assert (await aget(remote)).status_code == 200
    text = (await remote.metrics()).decode()
    assert 'slipway_router_requests_total{app="app",code="2xx",revision="r1"} 1.0' in text
    assert "slipway_router_process_open_fds" in text
    assert "\nprocess_" not in text  # the control process reports its own process figures


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        router = RemoteRouter(host="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(RouterChildFailed, match=r"cannot listen on 127\.0\.0\.1:"):
            await router.start()
        assert router.pid is None


def test_the_router_stops_with_the_process_that_started_it() -> None:
    """SIGKILL the control process: its end of the socket closes and the router exits."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from slipway.router.remote import RemoteRouter
        async def main():
            r = RemoteRouter(host="127.0.0.1", port={port})
            await r.start()
            print(r.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
    for _ in range(500):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                break  # it exited; only the reaping is left (to init)
        subprocess.run(["sleep", "0.01"], check=True)
    else:
        raise AssertionError("the router outlived the process that started it")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
