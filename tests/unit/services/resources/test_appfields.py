"""The rules of app fields, with every bad field named at once."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.domain.errors import Invalid
from slipway.domain.giturls import LocalRepos
from slipway.services.resources.appfields import check_fields, check_replica_bounds


def bad_fields(fields: dict[str, Any], local: LocalRepos | None = None) -> set[str]:
    with pytest.raises(Invalid) as caught:
        check_fields(fields, local=local or LocalRepos())
    return {e.field for e in caught.value.errors}


def test_good_fields_are_cleaned() -> None:
    cleaned = check_fields(
        {"root_directory": "./apps//api/", "start_command": "", "env": {"A_1": "x"}},
    )
    assert cleaned == {"root_directory": "apps/api", "start_command": None, "env": {"A_1": "x"}}


def test_every_bad_field_is_named_in_camel_case() -> None:
    fields = {
        "name": "Bad",
        "git_url": "/local",
        "git_branch": "-x",
        "root_directory": "a/../b",
        "health_check_path": "up",
        "env": {"A-B": "x"},
        "replicas": 11,
        "min_replicas": True,
        "buildpack": "docker",
    }
    assert bad_fields(fields) == {
        "name", "gitUrl", "gitBranch", "rootDirectory", "healthCheckPath", "env",
        "replicas", "minReplicas", "buildpack",
    }  # fmt: skip


def test_local_urls_follow_the_setting() -> None:
    assert bad_fields({"git_url": "file:///srv/r"}) == {"gitUrl"}
    anywhere = LocalRepos(anywhere=True, forbidden=("/var/lib/slipway",))
    assert check_fields({"git_url": "file:///srv/r"}, local=anywhere)["git_url"]
    assert bad_fields({"git_url": "/var/lib/slipway/git/app_1.git"}, anywhere) == {"gitUrl"}
    rooted = LocalRepos(roots=("/home/me/src",))
    assert check_fields({"git_url": "/home/me/src/site"}, local=rooted)["git_url"]
    assert bad_fields({"git_url": "/home/me/srcx"}, rooted) == {"gitUrl"}
    assert bad_fields({"git_url": "/etc"}, rooted) == {"gitUrl"}


def test_nulls() -> None:
    assert bad_fields({"name": None, "env": None, "replicas": None}) == {
        "name", "env", "replicas",
    }  # fmt: skip
    assert check_fields({"max_replicas": None}) == {"max_replicas": None}


def test_env_values_never_appear_in_messages() -> None:
    with pytest.raises(Invalid) as caught:
        check_fields({"env": {"TOKEN": "s3cret\x00"}})
    assert "s3cret" not in str(caught.value)


def test_replica_bounds() -> None:
    check_replica_bounds(2, None)
    check_replica_bounds(2, 2)
    with pytest.raises(Invalid):
        check_replica_bounds(3, 2)
