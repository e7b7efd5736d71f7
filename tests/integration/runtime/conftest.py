"""A real LocalRuntime for each test, closed (every replica stopped) afterwards; a
Kubernetes runtime on a fake cluster (`running_cluster`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.fakekube import FakeCluster

from slipway.domain.routes import Backend
from slipway.runtime.kubernetes import (
    ClusterSettings,
    KnativeApps,
    KnativeRuntime,
    KubeApi,
    KubernetesRuntime,
    load_connection,
)
from slipway.runtime.local import LocalRuntime
from slipway.sandbox.netns import open_connection


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    rt = LocalRuntime()
    yield rt
    await rt.close()


async def http_get(backend: Backend, path: str = "/") -> tuple[int, str]:
    """GET `path` from a replica, connecting inside its network namespace (as the router
    does); (status, body)."""
    reader, writer = await open_connection(backend.host, backend.port, backend.netns)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


@contextlib.asynccontextmanager
async def running_cluster(
    mode: str, tmp_path: Path, *, ready_after: float = 0.3
) -> AsyncIterator[tuple[FakeCluster, KubernetesRuntime]]:
    """A fake cluster (`mode`: "kubernetes" or "plain" for Deployments, "knative" for
    Knative Serving) and a started runtime on it."""
    with FakeCluster(ready_after=ready_after, knative=mode == "knative") as cluster:
        async with running_cluster_runtime(cluster, tmp_path) as runtime:
            yield cluster, runtime


@contextlib.asynccontextmanager
async def running_cluster_runtime(
    cluster: FakeCluster, tmp_path: Path
) -> AsyncIterator[KubernetesRuntime]:
    """A started runtime on `cluster`, in its mode (another one on the same cluster is a
    Slipway that restarted)."""
    api = KubeApi(load_connection(str(cluster.kubeconfig(tmp_path / "kubeconfig"))))
    settings = ClusterSettings(registry="registry.test:5000")
    runtime = KubernetesRuntime(api, settings)
    if cluster.knative:
        runtime = KnativeRuntime(api, settings, KnativeApps(api, settings))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
        await api.close()
