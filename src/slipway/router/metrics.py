"""Per-revision traffic figures: plain integers on the hot path, Prometheus at scrape time.

The proxy must not pay for metrics per request beyond a few integer additions, so each
revision key owns one `RevisionStats` (reached through the compiled route target, no lookup),
holding its in-flight count, response counts by status class, a latency histogram as an array
of non-cumulative bucket counts, and upstream errors. `RouterCollector` is a custom
`prometheus_client` collector that turns those numbers into metric families only when someone
scrapes; the `RouterServer` registers it in the default registry while it runs.

A request is counted once, when the router is done with it (response complete, or the
connection ended after a response head was sent); its duration runs from the parsed request
head to that moment. Requests whose client left before any response, and WebSocket sessions
(status 101), are not counted: they have no status class and no meaningful latency.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from time import perf_counter

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from slipway.domain.revisionkeys import parse_revision_key

# prometheus_client's default buckets, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
CLASSES = ("2xx", "3xx", "4xx", "5xx")


class RevisionStats:
    """The counters of one revision key "{workspace_id}/{app_id}/{revision}"."""

    __slots__ = (
        "_since",
        "app",
        "buckets",
        "busy",
        "codes",
        "duration_sum",
        "in_flight",
        "requests",
        "revision",
        "upstream_errors",
    )

    def __init__(self, key: str) -> None:
        parsed = parse_revision_key(key)
        self.app, self.revision = (parsed.app_id, parsed.revision) if parsed else ("", key)
        self.in_flight = 0
        self.codes = [0] * 6  # index: status // 100; 0 and 1 are never published
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.duration_sum = 0.0
        self.upstream_errors = 0
        # The load the autoscaler reads (`load`): requests begun, and the integral of the
        # in-flight count over time (concurrency-seconds), kept exact at every change.
        self.requests = 0
        self.busy = 0.0
        self._since = perf_counter()

    def _integrate(self) -> None:
        now = perf_counter()
        self.busy += self.in_flight * (now - self._since)
        self._since = now

    def begin(self) -> None:
        """One request of this revision is being proxied."""
        self._integrate()
        self.in_flight += 1
        self.requests += 1

    def load(self) -> tuple[float, int]:
        """(concurrency-seconds, requests begun) since this revision was first routed: two
        readings a second apart give its average concurrency and request rate."""
        self._integrate()
        return self.busy, self.requests

    def finish(self, status: int, seconds: float) -> None:
        """One request of this revision is over; `status` 0 means no response was sent."""
        self._integrate()
        self.in_flight -= 1
        if status >= 200:
            self.codes[status // 100 if status < 600 else 5] += 1
            self.buckets[bisect_left(BUCKETS, seconds)] += 1
            self.duration_sum += seconds


class RouterCollector(Collector):
    """Reads the router's `RevisionStats` when the registry is scraped."""

    def __init__(
        self,
        stats: Mapping[str, RevisionStats],
        edge: Mapping[str, int] | None = None,
        connections: Collection[object] = (),
    ) -> None:
        self._stats = stats
        self._edge = edge if edge is not None else {}
        self._connections = connections

    def describe(self) -> list[Metric]:
        return []  # names are not claimed up front: two routers in one process may coexist

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "slipway_router_requests",
            "Requests proxied, by app, revision and status class.",
            labels=["app", "revision", "code"],
        )
        durations = HistogramMetricFamily(
            "slipway_router_request_duration_seconds",
            "Time from the request head to the end of the response, by app and revision.",
            labels=["app", "revision"],
        )
        errors = CounterMetricFamily(
            "slipway_router_upstream_errors",
            "Failed attempts to get a response from a replica (refused, reset, malformed).",
            labels=["app", "revision"],
        )
        for s in list(self._stats.values()):
            labels = [s.app, s.revision]
            codes = list(s.codes)
            for i, name in enumerate(CLASSES, start=2):
                requests.add_metric([*labels, name], codes[i])
            durations.add_metric(labels, _cumulative(list(s.buckets)), s.duration_sum)
            errors.add_metric(labels, s.upstream_errors)
        edge = CounterMetricFamily(
            "slipway_router_edge_events",
            "Clients refused or cut off at the edge: caps, deadlines, bad or oversized heads.",
            labels=["event"],
        )
        for event, count in sorted(dict(self._edge).items()):
            edge.add_metric([event], count)
        open_now = GaugeMetricFamily(
            "slipway_router_connections",
            "Client connections open now.",
            value=len(self._connections),
        )
        return [requests, durations, errors, edge, open_now]


def _cumulative(buckets: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*map(str, BUCKETS), "+Inf"), buckets, strict=True):
        total += count
        out.append((bound, total))
    return out
