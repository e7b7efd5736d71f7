"""Runs the Alembic migrations shipped in `store/migrations` without an alembic.ini.

The Alembic `Config` is built in code, and the caller's open connection is handed to
`migrations/env.py` through `config.attributes["connection"]`, so migrations run inside the
store's own (serialized, on SQLite) write transaction.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """`alembic upgrade head` over an open synchronous connection (use via `run_sync`)."""
    command.upgrade(alembic_config(connection), revision)
