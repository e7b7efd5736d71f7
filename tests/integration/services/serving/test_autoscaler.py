"""The autoscaler's loop over the fakes: it reads the router's load counters, writes only
`app.replicas` of apps with `maxReplicas`, and the reconciler does the rest."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.support.world import World

from slipway.services.serving.autoscaler import Autoscaler
from slipway.services.serving.loadshare import chunks, received

R1 = "web-00001"  # the conftest world's revision


async def _bounds(world: World, *, low: int, high: int | None, target: int = 10) -> None:
    app = await world.fresh_app()
    await world.scoped.apps.update(
        replace(app, min_replicas=low, max_replicas=high, target_concurrency=target)
    )


async def _ticks(world: World, scaler: Autoscaler, concurrency: list[float]) -> list[int]:
    """One tick a second; the router saw `c` requests in flight during each."""
    key = world.key(R1)
    busy, out = 0.0, []
    for t, c in enumerate(concurrency):
        busy += c
        world.router.loads[key] = (busy, int(busy))
        await scaler.tick(float(t))
        out.append((await world.fresh_app()).replicas)
    return out


async def test_a_burst_scales_an_autoscaled_app_up_and_the_runtime_follows(world: World) -> None:
    await _bounds(world, low=1, high=5)
    scaler = Autoscaler(world.platform, stable_seconds=10, panic_seconds=2)
    got = await _ticks(world, scaler, [0.0, 5.0, 45.0, 45.0])
    assert got[-1] == 5  # 45 in flight at 10 each, capped at maxReplicas
    await world.settle()
    assert world.runtime.running() == {R1: 5}
    state = world.platform.autoscaling[world.app.id]
    assert state.decision.panicking and state.concurrency[R1] == 45.0


async def test_an_app_without_max_replicas_is_left_alone(world: World) -> None:
    scaler = Autoscaler(world.platform, stable_seconds=10, panic_seconds=2)
    assert await _ticks(world, scaler, [0.0, 80.0, 80.0]) == [1, 1, 1]
    assert world.app.id not in world.platform.autoscaling


async def test_a_manual_scale_below_min_replicas_is_restored(world: World) -> None:
    await _bounds(world, low=2, high=4)
    app = await world.fresh_app()
    await world.scoped.apps.update(replace(app, replicas=0))
    scaler = Autoscaler(world.platform, stable_seconds=10, panic_seconds=2)
    assert (await _ticks(world, scaler, [0.0, 0.0]))[-1] == 2


async def test_a_counter_that_went_back_is_not_a_negative_load(world: World) -> None:
    await _bounds(world, low=1, high=5)
    scaler = Autoscaler(world.platform, stable_seconds=10, panic_seconds=2)
    key = world.key(R1)
    world.router.loads[key] = (100.0, 100)
    await scaler.tick(0.0)
    world.router.loads[key] = (1.0, 1)  # the router process restarted
    assert scaler.observe(1.0) == {}
    world.router.loads[key] = (3.0, 3)
    assert scaler.observe(2.0) == {key: 2.0}


async def test_an_idle_app_with_min_replicas_zero_goes_to_zero_after_the_grace_period(
    world: World,
) -> None:
    await _bounds(world, low=0, high=5)
    scaler = Autoscaler(world.platform, stable_seconds=4, panic_seconds=2, zero_after_seconds=8)
    got = await _ticks(world, scaler, [1.0, 1.0] + [0.0] * 12)
    assert got[:9] == [1] * 9  # the stable window agrees at t=6, the grace period holds to 9
    assert got[10:] == [0, 0, 0, 0]
    await world.settle()
    assert world.runtime.running() == {}
    reason = world.platform.autoscaling[world.app.id].decision.reason
    assert reason == "no request for 12s: scaled to zero"  # the last tick, t=13
    routes = world.router.routes[world.app.id]
    assert all(t.cold and not t.backends for r in routes for t in r.targets)


async def test_min_replicas_one_never_goes_to_zero(world: World) -> None:
    await _bounds(world, low=1, high=5)
    scaler = Autoscaler(world.platform, stable_seconds=2, panic_seconds=1, zero_after_seconds=1)
    assert await _ticks(world, scaler, [0.0] * 6) == [1] * 6


async def test_an_app_at_zero_stays_there_until_a_request_comes(world: World) -> None:
    await _bounds(world, low=0, high=5)
    app = await world.fresh_app()
    await world.scoped.apps.update(replace(app, replicas=0))
    scaler = Autoscaler(world.platform, stable_seconds=4, panic_seconds=2, zero_after_seconds=8)
    got = await _ticks(world, scaler, [0.0, 0.0, 0.0, 3.0])  # a restart does not start it
    assert got == [0, 0, 0, 1]  # held requests are load like any other


async def test_load_other_routers_send_is_counted(world: World) -> None:
    """Several processes: the replica owner's autoscaler adds what other routers served."""
    await _bounds(world, low=1, high=5)
    key = world.key(R1)
    scaler = Autoscaler(world.platform, stable_seconds=10, panic_seconds=2)
    for payload in chunks("edge-1", {key: (0.0, 0)}):
        received(world.platform, payload)
    world.router.loads[key] = (0.0, 0)
    await scaler.tick(0.0)
    received(world.platform, chunks("edge-1", {key: (30.0, 300)})[0])
    received(world.platform, chunks(world.platform.leases.owner, {key: (99.0, 9)})[0])  # ours
    world.router.loads[key] = (10.0, 100)
    assert scaler.observe(1.0) == {key: 40.0}  # 10 here + 30 there, per second


def test_load_messages_fit_in_a_notify() -> None:
    load = {f"ws_{i:026d}/app_{i:026d}/web-{i:05d}": (1e9 + i, 10**9) for i in range(500)}
    payloads = chunks("worker-1", load)
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    merged: dict[str, list[float]] = {}
    for p in payloads:
        merged.update(json.loads(p)["load"])
    assert len(merged) == 500


async def test_a_start_from_zero_by_another_process_gets_a_grace_period(world: World) -> None:
    """Seen in a CI run: a router-only process's activator wrote 1 replica, and the owner's
    next tick, before the held request's load arrived, scaled the app to zero again."""
    await _bounds(world, low=0, high=3)
    app = await world.fresh_app()
    await world.scoped.apps.update(replace(app, replicas=0))
    scaler = Autoscaler(world.platform, stable_seconds=2, panic_seconds=1, zero_after_seconds=4)
    assert await _ticks(world, scaler, [0.0] * 6) == [0] * 6  # idle for longer than the grace
    await world.scoped.apps.update(replace(await world.fresh_app(), replicas=1))  # activated
    for t in (6.0, 7.0, 8.0):  # no load seen here: it went through another router
        await scaler.tick(t)
        assert (await world.fresh_app()).replicas == 1, t
    for t in (8.5, 9.0, 9.5, 10.0, 10.5):
        await scaler.tick(t)
    assert (await world.fresh_app()).replicas == 0  # the grace period ended: back to zero
    # Activated again between two ticks, right after the autoscaler wrote 0: seen all the same.
    await world.scoped.apps.update(replace(await world.fresh_app(), replicas=1))
    for t in (11.0, 12.0, 13.0):
        await scaler.tick(t)
        assert (await world.fresh_app()).replicas == 1, t
