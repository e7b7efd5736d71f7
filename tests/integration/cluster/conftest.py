"""Fixtures of the cluster tests: several Slipway processes on one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.dbswitch import POSTGRES, fresh_database_url


@pytest.fixture
def pg_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    with fresh_database_url(POSTGRES) as url:
        yield url
