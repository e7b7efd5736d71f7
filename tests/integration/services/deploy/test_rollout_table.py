"""The rollout (`pipeline.Deploy`) as a table: a deploy of `r2` over an app serving `r1`,
with a failure induced at each step (build, release, replicas, health, storing the
traffic, pushing the routes). Whatever fails, the deployment ends `failed` with a sentence,
the traffic and routes stay on `r1`, and `r2` runs nothing; with no failure it succeeds and
only `r2` runs. A rollout found `deploying` (handed over, or resumed after its process
died) goes on from its stored state.

Fakes of the builder, runtime and router (tests/support) over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.world import World, close_world, make_world

from slipway.domain.ids import new_id
from slipway.domain.models import Deployment, TrafficSplit, utcnow
from slipway.domain.states import DeploymentStatus as S
from slipway.services.deploy.pipeline import Deploy

HOST = "web.acme.localhost"
R1, R2 = "web-00001", "web-00002"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    app = await w.fresh_app()
    await w.scoped.apps.update(replace(app, release_command="./migrate"))
    await w.revision()
    await w.traffic([TrafficSplit(R1, 100)])
    w.running([(R1, 1)])
    yield w
    await close_world(w)


async def _deploy(world: World, dep: Deployment | None = None) -> Deployment:
    if dep is None:
        dep = Deployment(
            id=new_id("dep"), workspace_id=world.workspace.id, app_id=world.app.id,
            status=S.BUILDING, created_at=utcnow(), started_at=utcnow(), git_branch="main",
            git_commit_sha="a" * 40, git_commit_message="v2",
        )  # fmt: skip
        await world.scoped.deployments.create(dep)
    await Deploy(world.platform, dep).run()
    await world.settle()
    stored = await world.scoped.deployments.get(dep.id)
    assert stored is not None
    return stored


async def _log(world: World, dep: Deployment) -> list[str]:
    return await world.scoped.logs.list(dep.id)


async def test_a_deploy_with_no_failure_moves_everything_to_the_new_revision(
    world: World,
) -> None:
    dep = await _deploy(world)
    assert (dep.status, dep.revision_name, dep.rollout_replicas) == (S.SUCCEEDED, R2, 1)
    assert world.runtime.released == [(R2, "./migrate")]
    assert world.runtime.running() == {R2: 1}
    assert world.router.weights(world.app.id) == {HOST: {R2: 100}}
    assert await world.scoped.traffic.get(world.app.id) == [TrafficSplit(R2, 100)]


# step -> (where to induce it, how many calls of it succeed first, the failure's sentence).
# The deployment is updated to `deploying`, with its revision's name, then with its
# rollout; routes are pushed when the replicas start, then with the new traffic.
INTERNAL = "internal error (InducedFailure)"
FAILURES = {
    "build": ("builder", "build", 0, INTERNAL),
    "release command": ("runtime", "run_once", 0, INTERNAL),
    "storing the rollout": ("store", "deployments.update", 2, INTERNAL),
    "starting replicas": ("runtime", "scale", 0, INTERNAL),
    "pushing the routes at the start": ("router", "set_routes", 0, INTERNAL),
    "health check": ("runtime", "broken", 0, "before becoming healthy"),
    "storing the traffic": ("store", "traffic.set", 0, INTERNAL),
    "pushing the routes with the new traffic": ("router", "set_routes", 1, INTERNAL),
}


@pytest.mark.parametrize("step", list(FAILURES), ids=list(FAILURES))
async def test_a_failure_at_any_step_leaves_the_old_revision_serving(
    world: World, step: str
) -> None:
    target, op, after, sentence = FAILURES[step]
    if op == "broken":
        world.runtime.broken.add(R2)
    else:
        doubles = {
            "builder": world.shelf,
            "runtime": world.runtime,
            "router": world.router,
            "store": world.store,
        }
        # Once: the clean-up after the failure must work (a store that stays down is the
        # recovery loop's case, tests/integration/cluster).
        doubles[target].faults.induce(op, times=1, after=after)
    dep = await _deploy(world)
    assert dep.status == S.FAILED, dep
    assert sentence in (dep.error or ""), dep.error
    assert any(line.startswith("[deploy] Deployment failed") for line in await _log(world, dep))
    assert await world.scoped.traffic.get(world.app.id) == [TrafficSplit(R1, 100)]
    assert world.runtime.running() == {R1: 1}
    routes = world.router.weights(world.app.id)
    assert routes in ({}, {HOST: {R1: 100}}), routes  # untouched, or pushed as they were


async def test_a_failed_release_command_starts_no_replica(world: World) -> None:
    world.runtime.release_status = 3
    dep = await _deploy(world)
    assert dep.status == S.FAILED and dep.rollout_replicas is None
    assert ("scale", R2, 1) not in world.runtime.calls
    assert world.runtime.running() == {R1: 1}


async def test_a_rollout_found_deploying_after_its_release_resumes_without_it(
    world: World,
) -> None:
    dep, _ = await world.revision(S.DEPLOYING, rollout_replicas=2)
    done = await _deploy(world, dep)
    assert done.status == S.SUCCEEDED
    assert world.runtime.released == []  # the release phase had run before
    assert "[deploy] Resuming the rollout (the release phase already ran)" in await _log(world, dep)
    assert world.runtime.running() == {R2: 1}  # its share, once it took the traffic


async def test_a_handed_over_rollout_runs_its_release_first(world: World) -> None:
    dep, _ = await world.revision(S.DEPLOYING)  # built elsewhere; no rollout stored yet
    done = await _deploy(world, dep)
    assert (done.status, done.rollout_replicas) == (S.SUCCEEDED, 1)
    assert world.runtime.released == [(R2, "./migrate")]
    assert world.router.weights(world.app.id) == {HOST: {R2: 100}}
