from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slipway.domain.models import TrafficSplit
from slipway.domain.replicacounts import desired_replicas, share_replicas


def test_shares_follow_traffic() -> None:
    splits = [TrafficSplit("a-00002", 10, "canary"), TrafficSplit("a-00001", 90)]
    assert share_replicas(10, splits) == {"a-00002": 1, "a-00001": 9}
    assert share_replicas(3, splits) == {"a-00002": 1, "a-00001": 2}
    assert share_replicas(1, splits) == {"a-00002": 1, "a-00001": 1}
    even = [TrafficSplit("a-00002", 50), TrafficSplit("a-00001", 50)]
    assert share_replicas(4, even) == {"a-00002": 2, "a-00001": 2}


def test_tagged_revisions_at_zero_percent_keep_one_replica() -> None:
    splits = [TrafficSplit("a-00002", 100), TrafficSplit("a-00001", 0, "old")]
    assert share_replicas(2, splits) == {"a-00002": 2, "a-00001": 1}


def test_untagged_zero_percent_and_app_at_zero_get_nothing() -> None:
    splits = [TrafficSplit("a-00002", 100), TrafficSplit("a-00001", 0)]
    assert share_replicas(4, splits) == {"a-00002": 4, "a-00001": 0}
    assert share_replicas(0, splits) == {"a-00002": 0, "a-00001": 0}


@st.composite
def percents_summing_to_100(draw: st.DrawFn) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=99), max_size=4, unique=True)))
    bounds = [0, *cuts, 100]
    return [b - a for a, b in itertools.pairwise(bounds)]


@given(total=st.integers(min_value=1, max_value=10), percents=percents_summing_to_100())
def test_every_live_revision_gets_at_least_one_and_total_is_met(
    total: int, percents: list[int]
) -> None:
    splits = [TrafficSplit(f"a-{i:05d}", p) for i, p in enumerate(percents, 1)]
    counts = share_replicas(total, splits)
    assert all(n >= 1 for n in counts.values())
    assert sum(counts.values()) == max(total, len(splits))
    assert max(counts.values()) - min(counts.values()) <= total


@pytest.mark.parametrize(
    ("total", "splits", "rollouts", "warming", "expected"),
    [
        # A rollout's revision, not yet in the traffic list, runs what the rollout asked.
        (2, [TrafficSplit("a", 100)], {"b": 3}, None, {"a": 2, "b": 3}),
        # Once listed, its share decides, even when that is 0 (an app scaled to zero) ...
        (0, [TrafficSplit("b", 100)], {"b": 1}, None, {"b": 0}),
        # ... or the one replica of a 0% tag (a `noTraffic` deploy).
        (3, [TrafficSplit("a", 100), TrafficSplit("b", 0, "candidate")], {"b": 3}, None,
         {"a": 3, "b": 1}),
        # Warming never takes a replica away before the routes change.
        (2, [TrafficSplit("a", 100)], None, {"a": 1, "b": 2}, {"a": 2, "b": 2}),
        (1, [TrafficSplit("a", 100)], None, {"a": 3}, {"a": 3}),
    ],
)  # fmt: skip
def test_desired_replicas_adds_rollouts_and_warming(
    total: int,
    splits: list[TrafficSplit],
    rollouts: dict[str, int] | None,
    warming: dict[str, int] | None,
    expected: dict[str, int],
) -> None:
    assert desired_replicas(total, splits, rollouts=rollouts, warming=warming) == expected
