"""`LogHub.wake`: a NOTIFY from another process ends a follower's wait for a live log at
once, instead of at the end of its poll."""

from __future__ import annotations

import asyncio

from slipway.services.platform.loghub import LogHub


async def test_wake_ends_a_wait_for_that_deployment_only() -> None:
    hub = LogHub()
    woken = asyncio.get_running_loop().create_task(hub.wait_live("dep1", 60))
    other = asyncio.get_running_loop().create_task(hub.wait_live("dep2", 60))
    await asyncio.sleep(0)
    hub.wake("dep1")
    await asyncio.wait_for(woken, 30)
    assert not other.done() and not hub.is_live("dep1")
    other.cancel()


def test_wake_without_a_waiter_changes_nothing() -> None:
    hub = LogHub()
    hub.wake("dep1")
    assert not hub.is_live("dep1") and hub.end("dep1") == 0
