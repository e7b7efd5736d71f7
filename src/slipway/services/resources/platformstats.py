"""Platform figures for `/metrics`: deployments by status, build durations, ready replicas.

Services do not know Prometheus. `DeploymentStats` counts, in plain integers, each deployment
whose run ends in this process (the `LogHub` tells it when a run's log closes; it then reads
the outcome from the store): finished deployments by terminal status, and a histogram of
their durations (`finishedAt - startedAt`). `snapshot` adds what is true right now, read at
scrape time: deployments building or deploying, and ready/total replicas of every revision
that has traffic or a tag, and for autoscaled apps (in the process that runs the replicas)
each revision's desired and ready replicas and observed concurrency. The API turns a
snapshot into metric families.

Counts start at zero with the process, as Prometheus counters do; a deployment cancelled
while still queued never runs, so it is not counted.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from slipway.domain.domains import days_left
from slipway.domain.models import DOMAIN_STATUSES, utcnow
from slipway.domain.replicacounts import share_replicas
from slipway.domain.revisionkeys import revision_key
from slipway.services.platform import Platform

log = logging.getLogger(__name__)

DURATION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)


@dataclass
class DurationHistogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus' `le` buckets, cumulative, ending with `+Inf`."""
        running, out = 0, []
        for bound, count in zip([*map(str, DURATION_BUCKETS), "+Inf"], self.buckets, strict=True):
            running += count
            out.append((bound, running))
        return out


class DeploymentStats:
    """Outcomes of the deployments this process ran."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self.finished: Counter[str] = Counter()
        self.durations = DurationHistogram()
        platform.logs.on_close(self._closed)

    def _closed(self, workspace_id: str, deployment_id: str) -> None:
        self._platform.spawn(self._record(workspace_id, deployment_id))

    async def _record(self, workspace_id: str, deployment_id: str) -> None:
        try:
            dep = await self._platform.store.scoped(workspace_id).deployments.get(deployment_id)
        except Exception:
            log.exception("could not read deployment %s for metrics", deployment_id)
            return
        if dep is None or not dep.status.terminal:
            return
        self.finished[dep.status.value] += 1
        if dep.started_at is not None and dep.finished_at is not None:
            self.durations.observe((dep.finished_at - dep.started_at).total_seconds())


@dataclass(frozen=True)
class ReplicaFigures:
    app_id: str
    revision: str
    ready: int
    total: int


@dataclass(frozen=True)
class AutoscaleFigures:
    """One revision of an autoscaled app: the replicas the autoscaler wants it to run (its
    share of the app's), those ready, and the requests in flight it observed."""

    app_id: str
    revision: str
    desired: int
    ready: int
    concurrency: float


@dataclass(frozen=True)
class Snapshot:
    finished: dict[str, int]
    active: dict[str, int]
    durations: DurationHistogram
    replicas: list[ReplicaFigures]
    autoscaling: list[AutoscaleFigures] = field(default_factory=list)
    activations: list[tuple[str, str, str, float]] = field(default_factory=list)
    # (app, revision, phase, seconds) of each app's latest start on demand
    domains: dict[str, int] = field(default_factory=dict)  # custom domains by status
    expiry_days: list[tuple[str, float]] = field(default_factory=list)  # (hostname, days)


async def snapshot(platform: Platform, stats: DeploymentStats) -> Snapshot:
    active: Counter[str] = Counter(
        d.status.value for d in await platform.store.active_deployments()
    )
    replicas, autoscaling = [], []
    for workspace, app in await platform.store.serving_apps():
        splits = await platform.store.scoped(workspace.id).traffic.get(app.id)
        shares = share_replicas(app.replicas, splits)
        state = platform.autoscaling.get(app.id)
        for split in splits:
            name = split.revision_name
            status = platform.runtime.status(revision_key(workspace.id, app.id, name))
            replicas.append(ReplicaFigures(app.id, name, status.ready, status.total))
            if state is not None:
                observed = state.concurrency.get(name, 0.0)
                autoscaling.append(
                    AutoscaleFigures(app.id, name, shares.get(name, 0), status.ready, observed)
                )
    activations = [
        (app_id, a.revision, phase, seconds)
        for app_id, a in list(platform.activations.items())
        for phase, seconds in a.phases
    ]
    domains = await platform.store.all_domains()
    now = utcnow()
    by_status: dict[str, int] = dict.fromkeys(DOMAIN_STATUSES, 0)
    by_status.update(Counter(d.status for d in domains))
    expiry = [(d.hostname, days_left(d.not_after, now)) for d in domains if d.not_after]
    return Snapshot(
        dict(stats.finished),
        dict(active),
        stats.durations,
        replicas,
        autoscaling,
        activations,
        by_status,
        expiry,
    )
