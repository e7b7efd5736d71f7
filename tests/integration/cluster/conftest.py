"""Fixtures of the cluster tests: several Slipway processes on one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_processes import Cluster
from tests.dbswitch import POSTGRES, fresh_database_url


@pytest.fixture
def pg_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    with fresh_database_url(POSTGRES) as url:
        yield url


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    """Processes on that database, stopped after the test (`Cluster.start` adds one)."""
    made = Cluster(tmp_path, pg_url)
    try:
        yield made
    finally:
        made.stop()
