"""When the API server refuses (a quota, an admission webhook, RBAC) or does not answer,
the Kubernetes runtime never raises out of `scale` or `stop` into an API request (which
would be a 500): a refused revision says why in its status and fails its wait with the
cluster's reason, and the next pass (the reconciler's resync) writes it again. Jobs fail
the deployment with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.runtime.conftest import running_cluster, running_cluster_runtime
from tests.support.fakekube import FakeCluster

from slipway.domain.errors import DeployFailed
from slipway.ports import RevisionSpec
from slipway.runtime.kubernetes import KnativeRuntime, KubernetesRuntime

SPEC = RevisionSpec(
    key="ws_refused/app_refused/web-00001",
    workspace_id="ws_refused",
    app_id="app_refused",
    revision="web-00001",
    app_dir="",
    start_command="python3 main.py",
    env={},
    health_check_path="/health",
    image_digest="sha256:" + "d" * 64,
    workspace_name="refused",
    app_name="web",
)


@pytest.fixture(params=["plain", "knative"])
async def cluster_runtime(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[FakeCluster, KubernetesRuntime]]:
    async with running_cluster(request.param, tmp_path, ready_after=0.2) as pair:
        yield pair


async def test_a_refused_revision_says_why_and_the_next_pass_writes_it(
    cluster_runtime: tuple[FakeCluster, KubernetesRuntime],
) -> None:
    cluster, runtime = cluster_runtime
    workload = "/services/" if isinstance(runtime, KnativeRuntime) else "/deployments/"
    cluster.fail_next("PATCH", workload, status=403)
    await runtime.scale(SPEC, 1)  # no exception: an API request would answer 500
    assert "refused" in (runtime.status(SPEC.key).last_error or "")
    with pytest.raises(DeployFailed, match=r"induced failure \(403\).*403"):
        await runtime.wait_ready(SPEC.key, 1, timeout=5)
    await runtime.scale(SPEC, 1)  # the resync's pass
    await runtime.wait_ready(SPEC.key, 1, timeout=10)
    assert runtime.status(SPEC.key).last_error is None


async def test_an_api_server_that_fails_for_a_moment_only_delays_the_wait(
    cluster_runtime: tuple[FakeCluster, KubernetesRuntime],
) -> None:
    cluster, runtime = cluster_runtime
    workload = "/services/" if isinstance(runtime, KnativeRuntime) else "/deployments/"
    cluster.fail_next("PATCH", workload, status=503)
    await runtime.scale(SPEC, 1)
    assert "503" in (runtime.status(SPEC.key).last_error or "")
    with pytest.raises(DeployFailed, match=r"refused.*503"):  # nothing wrote it again
        await runtime.wait_ready(SPEC.key, 1, timeout=1)
    waiting = asyncio.create_task(runtime.wait_ready(SPEC.key, 1, timeout=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # a passing failure does not fail the wait
    await runtime.scale(SPEC, 1)  # the resync's pass
    await waiting


async def test_a_refused_delete_leaves_it_for_the_next_pass(
    cluster_runtime: tuple[FakeCluster, KubernetesRuntime],
) -> None:
    cluster, runtime = cluster_runtime
    if isinstance(runtime, KnativeRuntime):
        return await _knative_stop_refused(cluster, runtime)
    await runtime.scale(SPEC, 1)
    await runtime.wait_ready(SPEC.key, 1, timeout=10)
    cluster.fail_next("DELETE", "/deployments/", status=500)
    await runtime.stop(SPEC.key)
    assert SPEC.key in runtime.running_keys()
    await runtime.stop(SPEC.key)
    assert cluster.objects("Deployment") == []


async def _knative_stop_refused(cluster: FakeCluster, runtime: KubernetesRuntime) -> None:
    await runtime.scale(SPEC, 1)
    await runtime.wait_ready(SPEC.key, 1, timeout=10)
    cluster.fail_next("DELETE", "/services/", status=500)
    await runtime.stop(SPEC.key)  # routed (Knative's default traffic): the app's Service
    assert cluster.objects("knative.Service")
    await runtime.stop(SPEC.key)
    assert cluster.objects("knative.Service") == []


async def test_a_refused_release_job_fails_with_the_clusters_reason(
    cluster_runtime: tuple[FakeCluster, KubernetesRuntime],
) -> None:
    cluster, runtime = cluster_runtime
    cluster.fail_next("PATCH", "/jobs/", status=403)

    async def log(line: str) -> None:
        pass

    with pytest.raises(DeployFailed, match=r"the cluster refused the release command: .*403"):
        await runtime.run_once(SPEC, "python3 migrate.py", log=log, timeout=10)


async def test_knative_stops_a_routed_revision_with_its_app_after_a_restart(
    tmp_path: Path,
) -> None:
    """A fresh runtime (Slipway restarted) reads the app's Service before it decides: the
    revision in traffic is not deleted from under it, the app stops whole."""
    async with running_cluster("knative", tmp_path, ready_after=0.2) as (cluster, runtime):
        await runtime.scale(SPEC, 1)
        await runtime.wait_ready(SPEC.key, 1, timeout=10)
        async with running_cluster_runtime(cluster, tmp_path) as restarted:
            await restarted.stop(SPEC.key)
        assert cluster.objects("knative.Service") == []
