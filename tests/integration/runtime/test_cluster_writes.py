"""The reconciler asks the runtime to scale every revision at every pass (every few
seconds per app): on a cluster a pass that changes nothing writes nothing, and one that
finds the Deployment gone (someone deleted it) writes it again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from tests.integration.runtime.conftest import running_cluster
from tests.integration.runtime.test_cluster_refusals import SPEC


async def test_an_unchanged_pass_writes_nothing_and_a_lost_deployment_comes_back(
    tmp_path: Path,
) -> None:
    async with running_cluster("plain", tmp_path, ready_after=0.1) as (cluster, runtime):
        await runtime.scale(SPEC, 1)
        await runtime.wait_ready(SPEC.key, 1, timeout=10)
        before = len(cluster.requests())
        for _ in range(3):
            await runtime.scale(SPEC, 1)
        assert [r for r in cluster.requests()[before:] if r[0] != "GET"] == []

        await runtime.scale(SPEC, 2)  # a change is written
        assert cluster.objects("Deployment")[0]["spec"]["replicas"] == 2

        (dep,) = cluster.objects("Deployment")
        path = f"/apis/apps/v1/namespaces/{dep['metadata']['namespace']}/deployments/web-00001"
        headers = {"Authorization": "Bearer fake-token"}
        assert httpx.delete(cluster.url + path, headers=headers).status_code == 200
        for _ in range(50):  # the watch tells the runtime
            if SPEC.key not in runtime.running_keys():
                break
            await asyncio.sleep(0.05)
        await runtime.scale(SPEC, 2)
        assert cluster.objects("Deployment")[0]["spec"]["replicas"] == 2
