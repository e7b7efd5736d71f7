"""Platform figures for `/metrics`: deployments by status, build durations, ready replicas.

Services do not know Prometheus. `DeploymentStats` counts, in plain integers, each deployment
whose run ends in this process (the `LogHub` tells it when a run's log closes; it then reads
the outcome from the store): finished deployments by terminal status, and a histogram of
their durations (`finishedAt - startedAt`). `snapshot` adds what is true right now, read at
scrape time: deployments building or deploying, and ready/total replicas of every revision
that has traffic or a tag. The API turns a snapshot into metric families.

Counts start at zero with the process, as Prometheus counters do; a deployment cancelled
while still queued never runs, so it is not counted.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

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
class Snapshot:
    finished: dict[str, int]
    active: dict[str, int]
    durations: DurationHistogram
    replicas: list[ReplicaFigures]


async def snapshot(platform: Platform, stats: DeploymentStats) -> Snapshot:
    active: Counter[str] = Counter(
        d.status.value for d in await platform.store.active_deployments()
    )
    replicas = []
    for workspace, app in await platform.store.serving_apps():
        for split in await platform.store.scoped(workspace.id).traffic.get(app.id):
            status = platform.runtime.status(
                revision_key(workspace.id, app.id, split.revision_name)
            )
            replicas.append(ReplicaFigures(app.id, split.revision_name, status.ready, status.total))
    return Snapshot(dict(stats.finished), dict(active), stats.durations, replicas)
