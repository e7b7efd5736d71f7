"""`slipway serve --role`: which roles a process runs."""

from __future__ import annotations

import pytest

from slipway.bootstrap import ROLES, parse_roles


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], ROLES),
        (["all"], ROLES),
        (["api"], {"api"}),
        (["api", "router"], {"api", "router"}),
        (["worker,router"], {"worker", "router"}),
        ([" api , all "], ROLES),
    ],
)
def test_roles_are_repeatable_or_comma_lists(values: list[str], expected: set[str]) -> None:
    assert parse_roles(values) == expected


@pytest.mark.parametrize("bad", ["builder", "api;worker", "", "API"])
def test_an_unknown_role_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        parse_roles([bad])
