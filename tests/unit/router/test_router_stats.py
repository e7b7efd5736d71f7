"""RevisionStats counts with plain integers; RouterCollector publishes them at scrape time."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest

from slipway.router.metrics import BUCKETS, RevisionStats, RouterCollector


def test_labels_come_from_the_revision_key() -> None:
    s = RevisionStats("ws_01/app_7/web-00003")
    assert (s.app, s.revision) == ("app_7", "web-00003")
    odd = RevisionStats("r1")  # not a platform key: still counted, under its own name
    assert (odd.app, odd.revision) == ("", "r1")


def test_finish_counts_class_bucket_and_in_flight() -> None:
    s = RevisionStats("w/a/r")
    s.in_flight = 4
    s.finish(200, 0.001)
    s.finish(404, BUCKETS[0])  # exactly on a bound: that bucket (le is inclusive)
    s.finish(502, 60.0)  # beyond the last bound: +Inf
    s.finish(0, 1.0)  # the client left before any answer: only in_flight moves
    assert s.in_flight == 0
    assert s.codes[2:] == [1, 0, 1, 1]
    assert s.buckets[0] == 2 and s.buckets[-1] == 1 and sum(s.buckets) == 3
    assert abs(s.duration_sum - (0.001 + BUCKETS[0] + 60.0)) < 1e-9


def test_collector_publishes_cumulative_histogram() -> None:
    stats = {"w/app/r1": RevisionStats("w/app/r1")}
    registry = CollectorRegistry()
    registry.register(RouterCollector(stats))
    s = stats["w/app/r1"]
    s.in_flight = 3
    for seconds in (0.003, 0.02, 0.3):
        s.finish(200, seconds)
    s.upstream_errors = 2
    labels = {"app": "app", "revision": "r1"}

    def value(name: str, **extra: str) -> float | None:
        return registry.get_sample_value(name, {**labels, **extra})

    assert value("slipway_router_requests_total", code="2xx") == 3
    assert value("slipway_router_requests_total", code="5xx") == 0
    assert value("slipway_router_request_duration_seconds_bucket", le="0.005") == 1
    assert value("slipway_router_request_duration_seconds_bucket", le="0.025") == 2
    assert value("slipway_router_request_duration_seconds_bucket", le="0.25") == 2
    assert value("slipway_router_request_duration_seconds_bucket", le="+Inf") == 3
    assert value("slipway_router_request_duration_seconds_count") == 3
    assert value("slipway_router_upstream_errors_total") == 2
    stats["w/app/r2"] = RevisionStats("w/app/r2")  # read at scrape time, not at register
    text = generate_latest(registry).decode()
    assert 'slipway_router_requests_total{app="app",code="2xx",revision="r2"} 0.0' in text


def test_two_collectors_may_share_a_registry() -> None:
    registry = CollectorRegistry()
    first, second = RouterCollector({}), RouterCollector({})
    registry.register(first)
    registry.register(second)  # no duplicate-name error: nothing is claimed up front
    registry.unregister(first)
    registry.unregister(second)
    assert list(registry.collect()) == []


def test_load_integrates_the_in_flight_count_over_time() -> None:
    stats = RevisionStats("ws_1/app_1/web-00001")
    stats.begin()
    stats.begin()
    time.sleep(0.2)
    stats.finish(200, 0.2)
    time.sleep(0.1)
    busy, requests = stats.load()
    stats.finish(200, 0.3)
    assert requests == 2
    assert 0.45 <= busy <= 0.7  # two in flight for 0.2 s, then one for 0.1 s: 0.5
    later, _ = stats.load()
    time.sleep(0.05)
    assert stats.load()[0] == later  # nothing in flight: nothing grows
