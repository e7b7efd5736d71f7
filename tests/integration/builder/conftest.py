"""Fixtures of the builder integration tests (helpers live in builder_git_helpers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builder_git_helpers import Repo

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Repo]:
    def make(name: str = "repo") -> Repo:
        return Repo(tmp_path / "remotes" / name)

    return make


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "git", local=LocalRepos(anywhere=True))


@pytest.fixture
def builder(tmp_path: Path, source: GitSource) -> LocalBuilder:
    return LocalBuilder(tmp_path / "data", source, timeout_seconds=60)
