"""`/metrics`: the Prometheus text of the default registry plus the platform's own figures,
with its access rule (metrics token, else loopback only)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import api_helpers as h
import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.support.fakes import ScriptedBuilder

from slipway.api import create_app
from slipway.domain.models import Revision, TrafficSplit, utcnow
from slipway.ports import ReplicaStatus
from slipway.services.deploy.pipeline import Worker
from slipway.services.platform import Platform
from slipway.store import SqlStore


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


TOKEN = "metrics-token-for-tests"


async def scrape(app: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    """GET /metrics; with the test token unless `headers` are given."""
    if headers is None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=app, **kwargs)
    async with httpx.AsyncClient(transport=transport, base_url="http://slipway.test") as c:
        return await c.get("/metrics", headers=headers)


async def test_platform_figures_after_a_failed_build_and_with_serving_replicas(
    platform: Platform,
    store: SqlStore,
    alpha: h.Tenant,
    app_a: dict[str, Any],
    client: httpx.AsyncClient,
) -> None:
    builder = ScriptedBuilder([["one line"]])
    builder.gates[0].set()
    platform.builder = builder
    api = create_app(platform, metrics_token=TOKEN)
    r = await client.post(
        f"{alpha.base}/deploy", json={"appId": app_a["id"]}, headers=alpha.headers
    )
    dep_id = r.json()["id"]
    worker = asyncio.ensure_future(Worker(platform).run())
    try:
        for _ in range(600):
            r = await client.get(f"{alpha.base}/deploy/{dep_id}", headers=alpha.headers)
            if r.json()["status"] == "failed":
                break
            await asyncio.sleep(0.05)
        for _ in range(100):  # the outcome is recorded just after the run's log closes
            found = samples((await scrape(api)).text)
            if found[("slipway_deployments_finished_total", (("status", "failed"),))] == 1:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert found[("slipway_deployments_finished_total", (("status", "succeeded"),))] == 0
    assert found[("slipway_deployments_active", (("status", "building"),))] == 0
    assert found[("slipway_deployment_duration_seconds_count", ())] == 1
    assert found[("slipway_deployment_duration_seconds_bucket", (("le", "+Inf"),))] == 1

    # A revision with traffic: its replicas as the runtime reports them.
    scoped = store.scoped(alpha.id)
    rev = await scoped.revisions.create(
        Revision(
            workspace_id=alpha.id, app_id=app_a["id"], name="", number=0, deployment_id=dep_id,
            image_ref="local/x", image_digest="sha256:" + "0" * 64, start_command="true",
            env={}, health_check_path=None, created_at=utcnow(),
        )
    )  # fmt: skip
    await scoped.traffic.set(app_a["id"], [TrafficSplit(rev.name, 100)])
    platform.runtime.statuses[f"{alpha.id}/{app_a['id']}/{rev.name}"] = ReplicaStatus(2, 3, ())
    response = await scrape(api)
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    labels = (("app", app_a["id"]), ("revision", rev.name))
    assert found[("slipway_replicas_ready", labels)] == 2
    assert found[("slipway_replicas", labels)] == 3
    assert any(name.startswith("python_") or name.startswith("process_") for name, _ in found)


async def test_access_needs_the_token_even_on_loopback(platform: Platform, tmp_path: Path) -> None:
    open_api = create_app(platform)  # no token configured: nobody scrapes
    assert (await scrape(open_api, headers={})).status_code == 401
    remote = await scrape(open_api, headers={}, client=("10.1.2.3", 5555))
    assert remote.status_code == 401
    assert remote.headers["content-type"] == "application/problem+json"
    guarded = create_app(platform, metrics_token="s3cret-metrics")
    refused = await scrape(guarded, headers={})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "s3cret" not in refused.text
    wrong = await scrape(guarded, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = await scrape(guarded, headers={"Authorization": "Bearer s3cret-metrics"})
    assert ok.status_code == 200 and "slipway_deployments_active" in ok.text
