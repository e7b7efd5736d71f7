"""Draining waits for the router's in-flight count; a revision wanted again is kept."""

from __future__ import annotations

import asyncio

from tests.support.fakes import FakeRouter, FakeRuntime

from slipway.services.platform.draining import Retirements, wait_drained


def busy_router(in_flight: int) -> FakeRouter:
    return FakeRouter(requests={"k": in_flight})


def slow_runtime() -> FakeRuntime:
    runtime = FakeRuntime()
    runtime.stop_delay = 0.05
    return runtime


async def test_wait_drained_returns_once_nothing_is_in_flight() -> None:
    router = busy_router(2)
    asyncio.get_running_loop().call_later(0.05, router.requests.update, {"k": 0})
    assert await wait_drained(router, "k", timeout=5)


async def test_wait_drained_gives_up_at_its_limit() -> None:
    assert not await wait_drained(busy_router(1), "k", timeout=0.05)


async def test_a_retired_revision_stops_only_after_its_requests() -> None:
    router, runtime, retirements = busy_router(1), slow_runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)
    await asyncio.sleep(0.1)
    assert runtime.stopped == [] and "k" in retirements
    router.requests["k"] = 0
    for _ in range(200):
        if runtime.stopped:
            break
        await asyncio.sleep(0.01)
    assert runtime.stopped == ["k"]
    assert "k" not in retirements


async def test_keep_calls_off_a_retirement_that_is_still_waiting() -> None:
    router, runtime, retirements = busy_router(1), slow_runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)
    await asyncio.sleep(0.02)
    await retirements.keep("k")
    router.requests["k"] = 0
    await asyncio.sleep(0.1)
    assert runtime.stopped == []
    assert "k" not in retirements


async def test_keep_lets_a_stop_that_began_finish_first() -> None:
    router, runtime, retirements = busy_router(0), slow_runtime(), Retirements()
    retirements.start("k", stop=runtime.stop, router=router, limit=10)
    await asyncio.sleep(0.01)  # drained at once; the stop has begun
    await retirements.keep("k")
    assert runtime.stopped == ["k"]  # finished before keep returned
