from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slipway.domain.errors import Invalid
from slipway.domain.names import (
    branch_problem,
    check_label,
    check_sha,
    label_problem,
    parse_revision_name,
    revision_name,
)


@pytest.mark.parametrize("name", ["a", "my-api", "a1", "x" * 40, "web-2"])
def test_dns_labels_accepted(name: str) -> None:
    assert label_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "My-Api", "1app", "app-", "a--b", "x" * 41, "a_b", "a.b", "-a", "ä", "a b"]
)
def test_dns_labels_rejected(name: str) -> None:
    with pytest.raises(Invalid) as err:
        check_label("name", name)
    assert err.value.errors[0].field == "name"


def test_revision_names_round_trip() -> None:
    assert revision_name("my-api", 5) == "my-api-00005"
    assert parse_revision_name("my-api-00005") == ("my-api", 5)
    assert parse_revision_name("my-api-5") is None
    with pytest.raises(ValueError, match="99999"):
        revision_name("a", 100000)


@given(st.integers(min_value=1, max_value=99999))
def test_revision_numbers_parse_back(number: int) -> None:
    assert parse_revision_name(revision_name("app", number)) == ("app", number)


@pytest.mark.parametrize("branch", ["main", "feature/x", "release-1.2", "v1_2"])
def test_branches_accepted(branch: str) -> None:
    assert branch_problem(branch) is None


@pytest.mark.parametrize(
    "branch",
    [
        "--upload-pack=touch /tmp/x",
        "-b",
        "a..b",
        "a b",
        "$(id)",
        "a;b",
        "x\n",
        "a/",
        ".a",
        "a.lock",
        "@",
        "refs//x",
        "é",
    ],
)
def test_hostile_branches_rejected(branch: str) -> None:
    assert branch_problem(branch) is not None


@pytest.mark.parametrize("sha", ["abc", "ABCDEF1", "g" * 40, "a" * 41, "--all", ""])
def test_bad_shas_rejected(sha: str) -> None:
    with pytest.raises(Invalid):
        check_sha("gitCommitSha", sha)
