"""Runtime logs of an app over real HTTP: paging by cursor, revision filter, refusals, and
the live WebSocket stream; lines are written to the real on-disk log files."""

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
from livehelpers import serving
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from slipway.api import create_app
from slipway.runtime.local.logs import AppLogFiles
from slipway.services.platform import Platform


@pytest.fixture
async def served(platform: Platform, tmp_path: Path) -> AsyncIterator[tuple[str, AppLogFiles]]:
    files = AppLogFiles(tmp_path / "logs")
    async with serving(create_app(platform, app_logs=files)) as address:
        yield address, files
    files.close()


def write(
    files: AppLogFiles, tenant: h.Tenant, app_id: str, n: int, rev: str = "my-api-00001"
) -> None:
    for i in range(n):
        files.write(
            workspace_id=tenant.id,
            app_id=app_id,
            revision=rev,
            replica=f"{rev}-abc123",
            stream="stderr" if i % 3 == 0 else "stdout",
            line=f"{rev} says {i}",
        )


async def test_paging_by_cursor_and_revision(
    served: tuple[str, AppLogFiles], alpha: h.Tenant, app_a: dict[str, Any]
) -> None:
    address, files = served
    write(files, alpha, app_a["id"], 30)
    write(files, alpha, app_a["id"], 10, rev="my-api-00002")
    async with httpx.AsyncClient(base_url=f"http://{address}", headers=alpha.headers) as c:
        url = f"{alpha.base}/apps/{app_a['id']}/logs"
        tail = (await c.get(url, params={"limit": 5})).json()
        assert [e["seq"] for e in tail["logs"]] == [36, 37, 38, 39, 40]
        assert tail["next"] == 41
        first = tail["logs"][0]
        assert set(first) == {"seq", "timestamp", "revision", "replica", "stream", "line"}
        assert first["timestamp"].endswith("Z") and first["line"] == "my-api-00002 says 5"
        page = (await c.get(url, params={"since": 1, "limit": 10})).json()
        assert [e["seq"] for e in page["logs"]] == list(range(1, 11))
        assert page["next"] == 11
        assert page["logs"][0]["stream"] == "stderr"
        rest = (await c.get(url, params={"since": page["next"], "limit": 1000})).json()
        assert rest["logs"][0]["seq"] == 11 and rest["next"] == 41
        empty = (await c.get(url, params={"since": 41})).json()
        assert empty == {"logs": [], "next": 41}
        only = (await c.get(url, params={"revision": "my-api-00002", "limit": 100})).json()
        assert {e["revision"] for e in only["logs"]} == {"my-api-00002"}
        assert len(only["logs"]) == 10


async def test_bad_input_is_a_problem(
    served: tuple[str, AppLogFiles], alpha: h.Tenant, beta: h.Tenant, app_a: dict[str, Any]
) -> None:
    address, files = served
    write(files, alpha, app_a["id"], 3)
    url = f"{alpha.base}/apps/{app_a['id']}/logs"
    async with httpx.AsyncClient(base_url=f"http://{address}") as c:
        for params, field in (
            ({"since": -1}, "since"),
            ({"since": "x"}, "since"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"revision": "other-00001"}, "revision"),
            ({"revision": "../../etc"}, "revision"),
        ):
            r = await c.get(url, params=params, headers=alpha.headers)
            assert r.status_code == 422, (params, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in r.json()["errors"]] == [field]
        r = await c.get(url, headers=beta.headers)  # another workspace's key
        assert r.status_code == 404
        r = await c.get(f"{beta.base}/apps/{app_a['id']}/logs", headers=beta.headers)
        assert r.status_code == 404
        r = await c.get(url)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_the_stream_sends_the_tail_then_new_lines(
    served: tuple[str, AppLogFiles], alpha: h.Tenant, beta: h.Tenant, app_a: dict[str, Any]
) -> None:
    address, files = served
    write(files, alpha, app_a["id"], 3)
    base = f"ws://{address}{alpha.base}/apps/{app_a['id']}/logs/stream"
    async with connect(f"{base}?token={alpha.key}") as ws:
        got = [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(3)]
        assert [g["seq"] for g in got] == [1, 2, 3]
        assert got[0]["type"] == "log" and got[0]["line"] == "my-api-00001 says 0"
        write(files, alpha, app_a["id"], 2, rev="my-api-00002")
        more = [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(2)]
        assert [m["seq"] for m in more] == [4, 5]
        assert more[1]["revision"] == "my-api-00002"
    async with connect(f"{base}?since=5", additional_headers=alpha.headers) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["seq"] == 5
    for url, code in (
        (f"{base}?token={beta.key}", 4404),
        (f"{base}?token=dor_sk_wrong", 4401),
        (f"{base}?token={alpha.key}&since=-3", 4422),
        (f"{base}?token={alpha.key}&since=abc", 4422),
        (f"{base}?token={alpha.key}&revision=nope", 4422),
    ):
        async with connect(url) as ws:
            frames = []
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    frames.append(message)
            assert (ws.close_code, frames) == (code, []), url
