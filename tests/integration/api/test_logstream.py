"""The live build-log WebSocket over real HTTP (uvicorn on loopback), a real SQLite store, a
real git repository and the real deploy worker; the builder writes lines on the test's cue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import api_helpers as h
import httpx
import pytest
from livehelpers import StuckWatcher, serving
from tests.support.fakes import ScriptedBuilder
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from slipway.api import create_app
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.services.deploy.pipeline import Worker
from slipway.services.platform import Platform, Settings
from slipway.services.platform.loghub import LogHub
from slipway.store import SqlStore

FIRST = [f"first half line {i}" for i in range(40)]
SECOND = [f"second half line {i} " + "x" * (i % 7) for i in range(60)]


@pytest.fixture
def builder() -> ScriptedBuilder:
    return ScriptedBuilder([FIRST, SECOND])


@pytest.fixture
async def live(
    store: SqlStore, tmp_path: Path, builder: ScriptedBuilder
) -> AsyncIterator[tuple[Platform, str]]:
    p = Platform(
        store=store,
        source=GitSource(tmp_path / "git-cache", local=LocalRepos(anywhere=True)),
        builder=builder,
        runtime=h.null_runtime(),
        router=h.null_router(),
        settings=Settings(local_git=LocalRepos(anywhere=True)),
        logs=LogHub(max_lag=50),
    )
    async with serving(create_app(p)) as address:
        yield p, address
    await p.close()


@pytest.fixture
async def http(live: tuple[Platform, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{live[1]}", timeout=30) as c:
        yield c


async def start_worker(platform: Platform) -> asyncio.Task[None]:
    return asyncio.ensure_future(Worker(platform).run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def stream_url(address: str, tenant: h.Tenant, dep_id: str, **query: Any) -> str:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"ws://{address}/api/v1/workspaces/{tenant.id}/deploy/{dep_id}/logs/stream?{qs}"


async def read_all(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            frames.append(json.loads(message))
    return frames


async def read_n(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(n)]


async def new_deployment(http: httpx.AsyncClient, tenant: h.Tenant, repo_url: str) -> str:
    r = await http.post(
        f"{tenant.base}/apps", json={"name": "web", "gitUrl": repo_url}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        f"{tenant.base}/deploy", json={"appId": r.json()["id"]}, headers=tenant.headers
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def lines_of(frames: list[dict[str, Any]]) -> list[str]:
    assert [f["index"] for f in frames if f["type"] == "log"] == list(
        range(len([f for f in frames if f["type"] == "log"]))
    )
    return [f["line"] for f in frames if f["type"] == "log"]


async def test_early_and_halfway_watchers_get_the_whole_log_then_the_status(
    live: tuple[Platform, str],
    http: httpx.AsyncClient,
    alpha: h.Tenant,
    repo: Any,
    builder: ScriptedBuilder,
) -> None:
    platform, address = live
    dep_id = await new_deployment(http, alpha, repo.url)
    # Connected while the deployment is still queued (the worker is not even running).
    early = await connect(stream_url(address, alpha, dep_id), additional_headers=alpha.headers)
    worker = await start_worker(platform)
    try:
        builder.gates[0].set()
        head = await read_n(early, len(FIRST))
        assert [f["line"] for f in head] == FIRST
        late = await connect(stream_url(address, alpha, dep_id, token=alpha.key))
        builder.gates[1].set()
        early_frames = head + await asyncio.wait_for(read_all(early), 60)
        late_frames = await asyncio.wait_for(read_all(late), 60)
    finally:
        await stop(worker)
    stored = (await http.get(f"{alpha.base}/deploy/{dep_id}/logs", headers=alpha.headers)).json()
    full = stored["logs"]
    assert full[: len(FIRST) + len(SECOND)] == FIRST + SECOND
    assert full[-1].startswith("[deploy] Deployment failed")
    for frames, ws in ((early_frames, early), (late_frames, late)):
        assert lines_of(frames) == full
        assert frames[-1] == {"type": "status", "status": "failed"}
        assert ws.close_code == 1000


async def test_since_resumes_and_a_finished_build_streams_from_the_store(
    live: tuple[Platform, str],
    http: httpx.AsyncClient,
    alpha: h.Tenant,
    repo: Any,
    builder: ScriptedBuilder,
) -> None:
    platform, address = live
    dep_id = await new_deployment(http, alpha, repo.url)
    for gate in builder.gates:
        gate.set()
    worker = await start_worker(platform)
    try:
        async with connect(
            stream_url(address, alpha, dep_id), additional_headers=alpha.headers
        ) as ws:
            await asyncio.wait_for(read_all(ws), 60)
    finally:
        await stop(worker)
    assert not platform.logs.is_live(dep_id)
    full = (await http.get(f"{alpha.base}/deploy/{dep_id}/logs", headers=alpha.headers)).json()
    async with connect(stream_url(address, alpha, dep_id, since=30, token=alpha.key)) as ws:
        frames = await asyncio.wait_for(read_all(ws), 60)
    logs = [f for f in frames if f["type"] == "log"]
    assert [f["index"] for f in logs] == list(range(30, len(full["logs"])))
    assert [f["line"] for f in logs] == full["logs"][30:]
    assert frames[-1] == {"type": "status", "status": "failed"}
    async with connect(
        stream_url(address, alpha, dep_id, since=len(full["logs"]), token=alpha.key)
    ) as ws:
        assert await asyncio.wait_for(read_all(ws), 60) == [{"type": "status", "status": "failed"}]


async def refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, list[Any]]:
    async with connect(url, additional_headers=headers or {}) as ws:
        frames = await asyncio.wait_for(read_all(ws), 30)
        return ws.close_code or 0, ws.close_reason or "", frames


async def test_bad_requests_are_refused_before_any_line(
    live: tuple[Platform, str], http: httpx.AsyncClient, alpha: h.Tenant, beta: h.Tenant, repo: Any
) -> None:
    _, address = live
    dep_id = await new_deployment(http, alpha, repo.url)
    unknown = "dep_01hx0000000000000000000000"
    cases = [
        (stream_url(address, alpha, dep_id), None, 4401),
        (stream_url(address, alpha, dep_id, token="dor_sk_nope"), None, 4401),
        (stream_url(address, alpha, dep_id), {"Authorization": "Bearer dor_sk_bad"}, 4401),
        (stream_url(address, alpha, dep_id, token=beta.key), None, 4404),  # another ws's key
        (stream_url(address, beta, dep_id, token=beta.key), None, 4404),  # another ws's dep
        (stream_url(address, alpha, unknown, token=alpha.key), None, 4404),
        (stream_url(address, alpha, dep_id, token=alpha.key, since=-1), None, 4422),
        (stream_url(address, alpha, dep_id, token=alpha.key, since="abc"), None, 4422),
        (stream_url(address, alpha, dep_id, token=alpha.key, since=1), None, 4422),  # no lines
        (stream_url(address, alpha, dep_id, token=alpha.key, since="9" * 40), None, 4422),
    ]
    for url, headers, expected in cases:
        code, reason, frames = await refusal(url, headers)
        assert (code, frames) == (expected, []), (url, code, reason)
        assert reason
        assert alpha.key not in reason and beta.key not in reason
    # The deployment was not touched.
    r = await http.get(f"{alpha.base}/deploy/{dep_id}", headers=alpha.headers)
    assert r.json()["status"] == "queued"


async def test_a_watcher_that_never_reads_is_dropped_and_the_build_goes_on(
    live: tuple[Platform, str], http: httpx.AsyncClient, alpha: h.Tenant, repo: Any
) -> None:
    platform, address = live
    big = ["y" * 4000 + f" {i}" for i in range(3000)]  # ~12 MB: more than socket buffers
    builder = ScriptedBuilder([big])
    platform.builder = builder
    dep_id = await new_deployment(http, alpha, repo.url)
    url = stream_url(address, alpha, dep_id, token=alpha.key)
    stuck = await asyncio.to_thread(StuckWatcher, url)
    reader = await connect(url, max_size=None)
    reading = asyncio.ensure_future(read_all(reader))
    worker = await start_worker(platform)
    try:
        builder.gates[0].set()
        await asyncio.wait_for(builder.done.wait(), 120)
        frames = await asyncio.wait_for(reading, 120)
    finally:
        await stop(worker)
    assert lines_of(frames)[: len(big)] == big
    assert frames[-1] == {"type": "status", "status": "failed"}
    texts, code, reason = await asyncio.to_thread(stuck.read_to_close, 60)
    assert (code, reason) == (4408, "watcher too slow: more than 50 lines behind")
    got = [json.loads(t) for t in texts]
    assert [f["index"] for f in got] == list(range(len(got)))  # in order, no gap, then cut
    assert len(got) < len(big)
