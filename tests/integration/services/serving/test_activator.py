"""The activator over the fakes: a request for a revision at zero writes the app's replica
count and the reconciler starts it; a revision that cannot start has its held requests
refused with the reason, and Runtime Status keeps the whole failure."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from tests.support.world import World

from slipway.services.serving.activator import REFUSE_SECONDS, Activator, short_reason
from slipway.services.serving.reconcile import reconcile_app

R1 = "web-00001"  # the conftest world's revision


@pytest.fixture(autouse=True)
async def at_zero(world: World) -> None:
    """The app scales to zero and is there: no replica, cold routes."""
    app = await world.fresh_app()
    await world.scoped.apps.update(replace(app, min_replicas=0, max_replicas=3, replicas=0))
    await reconcile_app(world.platform, world.workspace, await world.fresh_app())
    await world.settle()


def _targets(world: World) -> list[tuple[bool, int]]:
    return [(t.cold, len(t.backends)) for r in world.router.routes[world.app.id] for t in r.targets]


async def test_a_request_at_zero_starts_the_revision_and_routes_it(world: World) -> None:
    assert _targets(world) == [(True, 0)]  # at zero: cold, no backends
    activator = Activator(world.platform)
    activator.attach()
    assert world.router.activate is not None
    world.router.activate(world.key(R1))  # what the router calls for held requests
    world.router.activate(world.key(R1))  # asked again a second later: one start
    await asyncio.gather(*world.platform._background)
    assert (await world.fresh_app()).replicas == 1
    assert world.runtime.running() == {R1: 1}
    assert [c for c in world.runtime.calls if c[0] == "scale"] == [("scale", R1, 1)]
    assert _targets(world) == [(False, 1)]
    activation = world.platform.activations[world.app.id]
    assert activation.revision == R1 and activation.failure is None
    assert world.router.refused == {}


async def test_a_revision_that_cannot_start_has_its_requests_refused(world: World) -> None:
    world.runtime.broken.add(R1)
    await Activator(world.platform).activate(world.key(R1))
    reason, seconds = world.router.refused[world.key(R1)]
    assert reason == "the app exited with status 1 before becoming healthy"
    assert seconds == REFUSE_SECONDS
    failure = world.platform.activations[world.app.id].failure
    assert failure is not None and "exited with status 1" in failure


async def test_an_app_that_is_gone_refuses_at_once(world: World) -> None:
    await world.scoped.apps.delete(world.app.id)
    await Activator(world.platform).activate(world.key(R1))
    assert world.router.refused[world.key(R1)][0] == "the app no longer exists"


async def test_an_app_that_does_not_scale_to_zero_is_not_scaled_by_a_request(
    world: World,
) -> None:
    app = await world.fresh_app()
    await world.scoped.apps.update(replace(app, max_replicas=None))  # a manual scale to 0
    await Activator(world.platform).activate(world.key(R1))
    assert (await world.fresh_app()).replicas == 0
    assert world.runtime.running() == {}


def test_the_reason_given_to_clients_leaves_the_app_s_output_out() -> None:
    failure = (
        "the app exited with status 2 before becoming healthy. Its last 2 lines of output:\n"
        "DB_PASSWORD=x\nboom"
    )
    assert short_reason(failure) == "the app exited with status 2 before becoming healthy"
    assert short_reason("the app did not start; it printed nothing.") == "the app did not start"
