"""Draining waits for the router's in-flight count; a revision wanted again is kept."""

from __future__ import annotations

import asyncio

from slipway.services.draining import Retirements, wait_drained


class Router:
    def __init__(self, in_flight: int) -> None:
        self.count = in_flight

    def set_routes(self, app_id: str, routes: object) -> None: ...
    def remove_app(self, app_id: str) -> None: ...

    def in_flight(self, revision_key: str) -> int:
        return self.count

    async def settled(self) -> None: ...

    async def metrics(self) -> bytes:
        return b""


class Runtime:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        await asyncio.sleep(0.05)
        self.stopped.append(key)


async def test_wait_drained_returns_once_nothing_is_in_flight() -> None:
    router = Router(2)
    asyncio.get_running_loop().call_later(0.05, setattr, router, "count", 0)
    assert await wait_drained(router, "k", timeout=5)  # type: ignore[arg-type]


async def test_wait_drained_gives_up_at_its_limit() -> None:
    assert not await wait_drained(Router(1), "k", timeout=0.05)  # type: ignore[arg-type]


async def test_a_retired_revision_stops_only_after_its_requests() -> None:
    router, runtime, retirements = Router(1), Runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert runtime.stopped == [] and "k" in retirements
    router.count = 0
    for _ in range(200):
        if runtime.stopped:
            break
        await asyncio.sleep(0.01)
    assert runtime.stopped == ["k"]
    assert "k" not in retirements


async def test_keep_calls_off_a_retirement_that_is_still_waiting() -> None:
    router, runtime, retirements = Router(1), Runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)  # type: ignore[arg-type]
    await asyncio.sleep(0.02)
    await retirements.keep("k")
    router.count = 0
    await asyncio.sleep(0.1)
    assert runtime.stopped == []
    assert "k" not in retirements


async def test_keep_lets_a_stop_that_began_finish_first() -> None:
    router, runtime, retirements = Router(0), Runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)  # type: ignore[arg-type]
    await asyncio.sleep(0.01)  # drained at once; the stop has begun
    await retirements.keep("k")
    assert runtime.stopped == ["k"]  # finished before keep returned
