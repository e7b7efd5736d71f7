"""The reconciler as a table: given the stored desired state (the app's replicas, the
traffic list, deployments and their rollouts) and what runs now, the runtime calls it makes,
what runs after it (drained retirements included) and the routes it pushes. Then the same
with a failure induced at each step: nothing is half-applied, and the next pass repairs it.

Fakes of the runtime and router (tests/support) over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.fakes import InducedFailure
from tests.support.world import World, close_world, make_world

from slipway.domain.models import TrafficSplit
from slipway.domain.states import DeploymentStatus as S
from slipway.services.serving.reconcile import RECONCILE_CHANNEL, reconcile_app

HOST = "web.acme.localhost"


@dataclass(frozen=True)
class Row:
    """Revisions are `r1`, `r2`, ... in creation order (`web-00001`, ...)."""

    replicas: int
    revisions: list[tuple[S, int | None]]  # deployment status, rollout_replicas
    traffic: list[tuple[str, int, str | None]]  # revision, percent, tag
    running: dict[str, int] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # revisions whose image is gone
    # expected:
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    after: dict[str, int] = field(default_factory=dict)
    routes: dict[str, dict[str, int]] = field(default_factory=dict)


def name(short: str) -> str:
    return f"web-{int(short[1:]):05d}"


OK = (S.SUCCEEDED, None)

TABLE = {
    "first start": Row(
        replicas=2,
        revisions=[OK],
        traffic=[("r1", 100, None)],
        calls=[("scale", "r1", 2)],
        after={"r1": 2},
        routes={HOST: {"r1": 100}},
    ),
    "steady state asks for what runs": Row(
        replicas=2,
        revisions=[OK],
        traffic=[("r1", 100, None)],
        running={"r1": 2},
        calls=[("scale", "r1", 2)],
        after={"r1": 2},
        routes={HOST: {"r1": 100}},
    ),
    "traffic moved: the new one starts, the old one is drained and stopped": Row(
        replicas=2,
        revisions=[OK, OK],
        traffic=[("r2", 100, None)],
        running={"r1": 2},
        calls=[("scale", "r2", 2), ("stop", "r1", 0)],
        after={"r2": 2},
        routes={HOST: {"r2": 100}},
    ),
    "a split shares the replicas by traffic": Row(
        replicas=3,
        revisions=[OK, OK],
        traffic=[("r1", 40, None), ("r2", 60, None)],
        calls=[("scale", "r2", 2), ("scale", "r1", 1)],
        after={"r1": 1, "r2": 2},
        routes={HOST: {"r1": 40, "r2": 60}},
    ),
    "a tag at 0% runs one replica on top and has its own host": Row(
        replicas=2,
        revisions=[OK, OK],
        traffic=[("r1", 100, None), ("r2", 0, "beta")],
        calls=[("scale", "r2", 1), ("scale", "r1", 2)],
        after={"r1": 2, "r2": 1},
        routes={HOST: {"r1": 100}, f"beta---{HOST}": {"r2": 100}},
    ),
    "a rollout runs its revision before it is routed": Row(
        replicas=2,
        revisions=[OK, (S.DEPLOYING, 3)],
        traffic=[("r1", 100, None)],
        running={"r1": 2},
        calls=[("scale", "r2", 3), ("scale", "r1", 2)],
        after={"r1": 2, "r2": 3},
        routes={HOST: {"r1": 100}},
    ),
    "before its release phase ended a rollout runs nothing": Row(
        replicas=2,
        revisions=[OK, (S.DEPLOYING, None)],
        traffic=[("r1", 100, None)],
        calls=[("scale", "r1", 2)],
        after={"r1": 2},
        routes={HOST: {"r1": 100}},
    ),
    "once in the traffic list, the share decides (noTraffic: the tag's one)": Row(
        replicas=2,
        revisions=[OK, (S.DEPLOYING, 3)],
        traffic=[("r1", 100, None), ("r2", 0, "candidate")],
        running={"r1": 2, "r2": 3},
        calls=[("scale", "r2", 1), ("scale", "r1", 2)],
        after={"r1": 2, "r2": 1},
        routes={HOST: {"r1": 100}, f"candidate---{HOST}": {"r2": 100}},
    ),
    "a failed rollout's replicas leave": Row(
        replicas=1,
        revisions=[OK, (S.FAILED, 1)],
        traffic=[("r1", 100, None)],
        running={"r1": 1, "r2": 1},
        calls=[("scale", "r1", 1), ("stop", "r2", 0)],
        after={"r1": 1},
        routes={HOST: {"r1": 100}},
    ),
    "scaled to zero: everything is drained and stopped": Row(
        replicas=0,
        revisions=[OK],
        traffic=[("r1", 100, None)],
        running={"r1": 2},
        calls=[("stop", "r1", 0)],
        after={},
        routes={HOST: {"r1": 100}},  # routed, with no backend: the router answers 503
    ),
    "a revision whose image is gone is not started; the others are": Row(
        replicas=2,
        revisions=[OK, OK],
        traffic=[("r1", 50, None), ("r2", 50, None)],
        missing={"r2"},
        calls=[("scale", "r1", 1)],
        after={"r1": 1},
        routes={HOST: {"r1": 50, "r2": 50}},
    ),
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    yield w
    await close_world(w)


async def _given(world: World, row: Row) -> None:
    app = await world.fresh_app()
    app.replicas = row.replicas
    await world.scoped.apps.update(app)
    for i, (status, rollout) in enumerate(row.revisions, start=1):
        on_disk = f"r{i}" not in row.missing
        await world.revision(status, rollout_replicas=rollout, on_disk=on_disk)
    await world.traffic([TrafficSplit(name(r), p, tag) for r, p, tag in row.traffic])
    world.running((name(r), n) for r, n in row.running.items())


def _short(counts: dict[str, int]) -> dict[str, int]:
    return {f"r{int(n.rsplit('-', 1)[1])}": c for n, c in counts.items()}


def _routes(world: World) -> dict[str, dict[str, int]]:
    return {host: _short(w) for host, w in world.router.weights(world.app.id).items()}


async def _reconcile(world: World) -> None:
    await reconcile_app(world.platform, world.workspace, await world.fresh_app())


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
async def test_reconcile(world: World, case: str) -> None:
    row = TABLE[case]
    await _given(world, row)
    await _reconcile(world)
    await world.settle()
    calls = [(verb, f"r{int(rev.rsplit('-', 1)[1])}", n) for verb, rev, n in world.runtime.calls]
    assert calls == row.calls
    assert _short(world.runtime.running()) == row.after
    assert _routes(world) == row.routes


MOVED = Row(
    replicas=2,
    revisions=[OK, OK],
    traffic=[("r2", 100, None)],
    running={"r1": 2},
)


@pytest.mark.parametrize(
    ("fault", "target"),
    [
        ("traffic.get", "store"),
        ("deployments.list", "store"),
        ("revisions.list", "store"),
        ("scale", "runtime"),
        ("set_routes", "router"),
    ],
)
async def test_a_failed_step_changes_no_route_and_stops_nothing(
    world: World, fault: str, target: str
) -> None:
    await _given(world, MOVED)
    faults = {"store": world.store, "runtime": world.runtime, "router": world.router}
    faults[target].faults.induce(fault)
    with pytest.raises(InducedFailure):
        await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running())["r1"] == 2  # the old revision still serves
    assert world.router.routes == {}  # no table was pushed
    assert ("stop", "web-00001", 0) not in world.runtime.calls

    faults[target].faults.clear()  # the next pass (an event, the resync) repairs it
    await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running()) == {"r2": 2}
    assert _routes(world) == {HOST: {"r2": 100}}


async def test_a_failed_stop_is_retried_by_the_next_pass(world: World) -> None:
    await _given(world, MOVED)
    world.runtime.faults.induce("stop", times=1)
    await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running()) == {"r1": 2, "r2": 2}  # the stop failed
    assert _routes(world) == {HOST: {"r2": 100}}  # but no request goes to it

    await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running()) == {"r2": 2}


async def test_reconcile_is_idempotent(world: World) -> None:
    await _given(world, TABLE["a split shares the replicas by traffic"])
    await _reconcile(world)
    await world.settle()
    before = (world.runtime.running(), _routes(world))
    world.runtime.calls.clear()
    await _reconcile(world)
    await world.settle()
    assert (world.runtime.running(), _routes(world)) == before
    assert all(verb == "scale" for verb, _, _ in world.runtime.calls)  # asks, stops nothing


async def test_a_stored_warmup_runs_its_revisions_until_it_expires(world: World) -> None:
    await _given(world, TABLE["steady state asks for what runs"])
    await world.revision()
    until = datetime.now(UTC) + timedelta(seconds=60)
    await world.scoped.warmups.set(world.app.id, {name("r2"): 1, name("r1"): 1}, until=until)
    await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running()) == {"r1": 2, "r2": 1}  # never fewer than the share
    assert _routes(world) == {HOST: {"r1": 100}}  # warming is not routing

    await world.scoped.warmups.clear(world.app.id)
    await _reconcile(world)
    await world.settle()
    assert _short(world.runtime.running()) == {"r1": 2}


async def test_a_process_without_the_replicas_only_routes_and_asks_the_owner(
    world: World,
) -> None:
    await _given(world, MOVED)
    asked: list[tuple[str, str]] = []

    async def notify(channel: str, payload: str) -> None:
        asked.append((channel, payload))

    world.platform.owns_replicas = lambda: False
    world.store.notify = notify  # type: ignore[method-assign]
    await _reconcile(world)
    assert world.runtime.calls == []  # nothing started or stopped here
    assert _routes(world) == {HOST: {"r2": 100}}  # its own router follows the store
    assert asked == [(RECONCILE_CHANNEL, world.key("-"))]
