"""The traffic-list rules of CONTRACT §5, table-driven."""

from __future__ import annotations

import pytest

from slipway.domain.models import TrafficSplit as S
from slipway.domain.traffic import promoted, split_problems, with_deployed

ELIGIBLE: dict[str, str | None] = {
    "a-00001": None,
    "a-00002": None,
    "a-00003": "belongs to a failed deployment",
}


def fields(splits: list[S]) -> list[str]:
    return [e.field for e in split_problems(splits, eligible=ELIGIBLE)]


@pytest.mark.parametrize(
    "splits",
    [
        [S("a-00001", 100)],
        [S("a-00001", 10, "canary"), S("a-00002", 90, "stable")],
        [S("a-00001", 0, "old"), S("a-00002", 100)],
    ],
)
def test_valid_lists_have_no_problem(splits: list[S]) -> None:
    assert fields(splits) == []


@pytest.mark.parametrize(
    ("splits", "expected"),
    [
        ([], ["splits"]),
        ([S("a-00001", 99)], ["splits"]),
        ([S("a-00001", 50), S("a-00002", 51)], ["splits"]),
        ([S("a-00001", -1), S("a-00002", 101)], ["splits[0].percent", "splits[1].percent"]),
        ([S("a-00009", 100)], ["splits[0].revisionName"]),
        ([S("a-00003", 100)], ["splits[0].revisionName"]),
        ([S("a-00001", 50), S("a-00001", 50)], ["splits[1].revisionName"]),
        ([S("a-00001", 50, "x"), S("a-00002", 50, "x")], ["splits[1].tag"]),
        ([S("a-00001", 100, "UPPER")], ["splits[0].tag"]),
        ([S("a-00001", 100, "a--b")], ["splits[0].tag"]),
        ([S("a-00001", 100, "")], ["splits[0].tag"]),
        ([S("a-00009", 99, "-x")], ["splits[0].revisionName", "splits[0].tag", "splits"]),
    ],
)
def test_every_problem_is_reported_under_its_field(splits: list[S], expected: list[str]) -> None:
    assert fields(splits) == expected


def test_messages_say_what_is_wrong() -> None:
    [failed] = split_problems([S("a-00003", 100)], eligible=ELIGIBLE)
    assert failed.message == "a-00003 belongs to a failed deployment"
    [total] = split_problems([S("a-00001", 99)], eligible=ELIGIBLE)
    assert total.message == "percents must sum to exactly 100, not 99"


def test_promote_is_one_untagged_split() -> None:
    assert promoted("a-00002") == [S("a-00002", 100)]


def test_a_deploy_takes_everything_and_keeps_other_tags_at_zero() -> None:
    old = [S("a-00001", 10, "canary"), S("a-00002", 90)]
    assert with_deployed(old, "a-00003", take_traffic=True, tag=None) == [
        S("a-00003", 100),
        S("a-00001", 0, "canary"),
    ]


def test_a_no_traffic_deploy_keeps_percents_and_takes_the_tag() -> None:
    old = [S("a-00001", 10, "candidate"), S("a-00002", 90, "stable")]
    assert with_deployed(old, "a-00003", take_traffic=False, tag="candidate") == [
        S("a-00001", 10),
        S("a-00002", 90, "stable"),
        S("a-00003", 0, "candidate"),
    ]
