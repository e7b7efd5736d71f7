"""`GET /metrics`: Prometheus text format, outside `/api/v1` as scrapers expect.

The body is the default registry (where the router registers its request, latency and error
figures per app and revision while it runs, plus the process collectors) followed by the
platform's own families, built from `services.resources.platformstats` at each scrape:
`slipway_deployments_finished_total{status}`, `slipway_deployments_active{status}`,
`slipway_deployment_duration_seconds` (histogram), `slipway_replicas_ready{app,revision}`,
`slipway_replicas{app,revision}`, the autoscaler's figures, and each app's latest start on
demand, step by step (`slipway_activation_seconds{app,revision,phase}`), custom domains by
certificate state (`slipway_domains{status}`) and days to each certificate's expiry
(`slipway_certificate_expiry_days{hostname}`).

Access: metrics cross workspaces, so a workspace key does not open them: only
`Authorization: Bearer <metrics token>` does (`SLIPWAY_METRICS_TOKEN`, else the token
`bootstrap` keeps in the data directory's `metrics.token`). Without a token configured nobody
may scrape (a client's address proves nothing behind a proxy). Anything else is a 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from slipway.api.problems import ApiProblem
from slipway.domain.states import DeploymentStatus
from slipway.services.resources import platformstats

router = APIRouter(tags=["metrics"])


class SnapshotCollector:
    def __init__(self, snap: platformstats.Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterable[Metric]:
        snap = self.snap
        finished = CounterMetricFamily(
            "slipway_deployments_finished",
            "Deployments that reached a terminal status in this process.",
            labels=["status"],
        )
        active = GaugeMetricFamily(
            "slipway_deployments_active", "Deployments building or deploying.", labels=["status"]
        )
        for status in DeploymentStatus:
            if status.terminal:
                finished.add_metric([status.value], snap.finished.get(status.value, 0))
            elif status != DeploymentStatus.QUEUED:
                active.add_metric([status.value], snap.active.get(status.value, 0))
        durations = HistogramMetricFamily(
            "slipway_deployment_duration_seconds",
            "From start to a terminal status, per finished deployment.",
        )
        durations.add_metric([], snap.durations.cumulative(), snap.durations.total)
        return [finished, active, durations, *self._replicas()]

    def _replicas(self) -> list[Metric]:
        ready = GaugeMetricFamily(
            "slipway_replicas_ready",
            "Replicas passing their health check.",
            labels=["app", "revision"],
        )
        total = GaugeMetricFamily(
            "slipway_replicas", "Replicas existing.", labels=["app", "revision"]
        )
        for r in self.snap.replicas:
            ready.add_metric([r.app_id, r.revision], r.ready)
            total.add_metric([r.app_id, r.revision], r.total)
        labels = ["app", "revision"]
        desired = GaugeMetricFamily(
            "slipway_autoscaler_desired_replicas",
            "Replicas the autoscaler wants a revision to run (its share).",
            labels=labels,
        )
        actual = GaugeMetricFamily(
            "slipway_autoscaler_ready_replicas",
            "Ready replicas of an autoscaled revision.",
            labels=labels,
        )
        observed = GaugeMetricFamily(
            "slipway_autoscaler_observed_concurrency",
            "Requests in flight, averaged over the autoscaler's last tick.",
            labels=labels,
        )
        for a in self.snap.autoscaling:
            desired.add_metric([a.app_id, a.revision], a.desired)
            actual.add_metric([a.app_id, a.revision], a.ready)
            observed.add_metric([a.app_id, a.revision], a.concurrency)
        activation = GaugeMetricFamily(
            "slipway_activation_seconds",
            "The app's latest start on demand (a request at zero replicas), step by step.",
            labels=[*labels, "phase"],
        )
        for app_id, revision, phase, seconds in self.snap.activations:
            activation.add_metric([app_id, revision, phase], seconds)
        return [ready, total, desired, actual, observed, activation, *self._domains()]

    def _domains(self) -> list[Metric]:
        domains = GaugeMetricFamily(
            "slipway_domains",
            "Custom domains by the state of their certificate.",
            labels=["status"],
        )
        for status, count in self.snap.domains.items():
            domains.add_metric([status], count)
        expiry = GaugeMetricFamily(
            "slipway_certificate_expiry_days",
            "Days until a custom domain's certificate expires (negative: expired).",
            labels=["hostname"],
        )
        for hostname, days in self.snap.expiry_days:
            expiry.add_metric([hostname], days)
        return [domains, expiry]


def _check_access(request: Request) -> None:
    token: str | None = getattr(request.app.state, "metrics_token", None)
    if token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return
    raise ApiProblem(
        401, "Metrics need the platform's metrics token.", headers={"WWW-Authenticate": "Bearer"}
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _check_access(request)
    stats: platformstats.DeploymentStats = request.app.state.deployment_stats
    snap = await platformstats.snapshot(request.app.state.platform, stats)
    own = CollectorRegistry(auto_describe=False)
    own.register(SnapshotCollector(snap))
    router = await request.app.state.platform.router.metrics()
    body = generate_latest(REGISTRY) + generate_latest(own) + router
    return Response(body, media_type=CONTENT_TYPE_LATEST)
