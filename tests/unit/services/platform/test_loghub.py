"""The in-process log hub: shared backlog, live lines, slow watchers dropped, forgetting."""

from __future__ import annotations

import asyncio

import pytest

from slipway.services.platform.loghub import LogHub, WatcherDropped


async def test_watchers_share_the_backlog_and_follow() -> None:
    hub = LogHub()
    hub.open("dep_1", workspace_id="ws_1")
    hub.publish("dep_1", 0, ["a", "b"])
    found = hub.subscribe("dep_1", 1)
    assert found is not None
    watcher, first = found
    assert first == 0
    assert await watcher.next_lines(0.01) == [(1, "b")]
    hub.publish("dep_1", 2, ["c"])
    hub.publish("dep_1", 5, ["out of order is ignored"])
    assert await watcher.next_lines(1) == [(2, "c")]
    assert await watcher.next_lines(0.01) == []
    assert not watcher.finished
    hub.close("dep_1")
    assert watcher.finished
    assert hub.is_live("dep_1")  # not everything is stored yet
    hub.stored("dep_1", 3)
    assert not hub.is_live("dep_1")
    assert hub.subscribe("dep_1", 0) is None


async def test_a_watcher_too_far_behind_is_dropped_others_are_not() -> None:
    hub = LogHub(max_lag=3)
    hub.open("dep_1", workspace_id="ws_1")
    hub.publish("dep_1", 0, [str(i) for i in range(10)])  # a backlog is not lag
    slow, _ = hub.subscribe("dep_1", 0) or (None, 0)
    fast, _ = hub.subscribe("dep_1", 0) or (None, 0)
    assert slow is not None and fast is not None
    assert len(await fast.next_lines(0.01)) == 10
    assert len(await slow.next_lines(0.01)) == 10
    for i in range(10, 14):
        hub.publish("dep_1", i, [str(i)])
        assert await fast.next_lines(0.01) == [(i, str(i))]
    # A burst written while a watcher idles waiting for lines is not lag.
    idle = asyncio.ensure_future(fast.next_lines(5))
    await asyncio.sleep(0)
    hub.publish("dep_1", 14, [str(i) for i in range(14, 24)])
    assert len(await idle) == 10
    with pytest.raises(WatcherDropped, match="more than 3 lines behind"):
        await slow.next_lines(0.01)
    assert hub.watchers("dep_1") == 1


async def test_close_listeners_hear_of_every_closed_log() -> None:
    hub = LogHub()
    heard: list[tuple[str, str]] = []
    hub.on_close(lambda ws, dep: heard.append((ws, dep)))
    hub.on_close(lambda ws, dep: 1 / 0)  # a failing listener harms nobody
    hub.open("dep_1", workspace_id="ws_1", first_index=4)
    assert hub.end("dep_1") == 4
    hub.close("dep_1")
    hub.close("dep_1")
    hub.close("dep_unknown")
    assert heard == [("ws_1", "dep_1")]
    assert not hub.is_live("dep_1")


async def test_wait_live_returns_when_the_log_opens() -> None:
    hub = LogHub()
    waiting = asyncio.ensure_future(hub.wait_live("dep_1", 30))
    await asyncio.sleep(0)
    hub.open("dep_1", workspace_id="ws_1")
    await asyncio.wait_for(waiting, 5)
    assert hub.is_live("dep_1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await hub.wait_live("dep_2", 0.01)  # times out quietly
    assert loop.time() - started < 1
