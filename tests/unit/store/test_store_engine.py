"""Database URL handling of the SQL store."""

from __future__ import annotations

import pytest

from slipway.store.engine import normalize_url


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///data/slipway.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/slipway.db", "sqlite+aiosqlite"),
        ("postgres://u:p@db/slipway", "postgresql+asyncpg"),
        ("postgresql://u:p@db/slipway", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@db/slipway", "postgresql+asyncpg"),
    ],
)
def test_urls_get_async_drivers(url: str, driver: str) -> None:
    parsed = normalize_url(url)
    assert parsed.drivername == driver
    assert parsed.database in {"data/slipway.db", "slipway"}


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        normalize_url("mysql://u@db/slipway")
