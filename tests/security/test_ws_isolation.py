"""Tenant isolation of the WebSocket log streams, which the OpenAPI-generated isolation test
cannot reach: the build-log stream `/workspaces/{wsId}/deploy/{deployId}/logs/stream` and the
runtime-log stream `/workspaces/{wsId}/apps/{appId}/logs/stream`.

Workspace A's key with B's ids (on A's path or on B's), a bad key and no key are each refused
with a close code (`4000 + the REST status`) before a single frame is sent; B's own key on the
same URL is the control that proves the ids are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.security.socket_server import serving
from tests.security.tenants import Tenant
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from slipway.services.platform import Platform

GRACE = 30.0
BAD_KEYS = ["dor_sk_" + "A" * 36, "not-a-key", "dor_sk_\n"]


@pytest.fixture
async def address(platform: Platform) -> AsyncIterator[str]:
    async with serving(platform) as (host, port):
        yield f"ws://{host}:{port}"


def _streams(t: Tenant, owner: Tenant) -> list[str]:
    """Both streams of `owner`'s objects, addressed under workspace `t`."""
    return [
        f"/api/v1/workspaces/{t.ws_id}/deploy/{owner.succeeded_id}/logs/stream",
        f"/api/v1/workspaces/{t.ws_id}/apps/{owner.app_id}/logs/stream",
    ]


async def _frames_then_close(url: str, headers: dict[str, str]) -> tuple[list[str], int | None]:
    """Every frame the server sends, and its close code (None if still open after a while)."""
    frames: list[str] = []
    async with connect(url, additional_headers=headers, open_timeout=GRACE) as ws:
        try:
            async with asyncio.timeout(3):
                while True:
                    frames.append(str(await ws.recv()))
        except ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return frames, None


async def test_a_key_of_a_with_ids_of_b_gets_nothing(
    address: str, alpha: Tenant, beta: Tenant
) -> None:
    urls = _streams(alpha, beta) + _streams(beta, beta)  # B's ids on A's path and on B's
    for path in urls:
        for headers, query in ((alpha.headers, ""), ({}, f"?token={alpha.key}")):
            frames, code = await _frames_then_close(address + path + query, headers)
            assert frames == [], path
            assert code == 4404, (path, code)


async def test_bad_or_missing_keys_get_nothing(address: str, beta: Tenant) -> None:
    for path in _streams(beta, beta):
        for key in BAD_KEYS:
            frames, code = await _frames_then_close(
                address + path, {"Authorization": f"Bearer {key!r}"[:200]}
            )
            assert (frames, code) == ([], 4401), (path, key)
            frames, code = await _frames_then_close(address + path + "?token=" + key[:20], {})
            assert (frames, code) == ([], 4401), (path, key)
        assert await _frames_then_close(address + path, {}) == ([], 4401)


async def test_the_owner_is_let_in(address: str, beta: Tenant) -> None:
    deploy, app = _streams(beta, beta)
    frames, code = await _frames_then_close(address + deploy, beta.headers)
    assert frames, "the owner's build-log stream sent nothing"
    assert code is None or code < 4000
    frames, code = await _frames_then_close(address + app + f"?token={beta.key}", {})
    assert code is None or code < 4000  # open (no runtime lines yet) or closed normally
