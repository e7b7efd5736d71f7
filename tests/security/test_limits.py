"""Rate limits (429 with Retry-After and RateLimit-* headers) and body size limits (413)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.security.tenants import Tenant

from slipway.api import create_app
from slipway.api.limits import ApiLimits
from slipway.services.platform import Platform


async def _client(platform: Platform, limits: ApiLimits) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(platform, limits=limits))
    return httpx.AsyncClient(transport=transport, base_url="http://slipway.test")


@pytest.fixture
async def tight(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    limits = ApiLimits(rate_per_second=0.01, rate_burst=3, max_body_bytes=2048)
    async with await _client(platform, limits) as c:
        yield c


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    tight: httpx.AsyncClient, alpha: Tenant, beta: Tenant
) -> None:
    answers = [await tight.get(f"{alpha.base}/apps", headers=alpha.headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "3"
    assert int(limited.headers["ratelimit-reset"]) > 0
    # another key has its own bucket
    assert (await tight.get(f"{beta.base}/apps", headers=beta.headers)).status_code == 200


async def test_requests_without_a_key_share_a_bucket_per_address(
    tight: httpx.AsyncClient, alpha: Tenant
) -> None:
    codes = [(await tight.get(f"{alpha.base}/apps")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


async def test_the_default_limit_is_generous(client: httpx.AsyncClient, alpha: Tenant) -> None:
    codes = {(await client.get(f"{alpha.base}/apps", headers=alpha.headers)).status_code
             for _ in range(100)}  # fmt: skip
    assert codes == {200}


async def test_a_body_over_the_limit_is_413_and_creates_nothing(
    tight: httpx.AsyncClient, alpha: Tenant
) -> None:
    body = {"name": "big", "gitUrl": "https://example.com/a.git", "env": {"A": "x" * 4096}}
    r = await tight.post(f"{alpha.base}/apps", json=body, headers=alpha.headers)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    r = await tight.post(f"{alpha.base}/apps", content=chunks(), headers=alpha.headers)
    assert r.status_code == 413
    apps = await tight.get(f"{alpha.base}/apps", headers=alpha.headers)
    assert [a["name"] for a in apps.json()["data"]] == ["alpha-app"]
