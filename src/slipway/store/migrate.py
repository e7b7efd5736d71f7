"""Runs the Alembic migrations shipped in `store/migrations` without an alembic.ini.

The Alembic `Config` is built in code, and the caller's open connection is handed to
`migrations/env.py` through `config.attributes["connection"]`, so migrations run inside the
store's own (serialized, on SQLite) write transaction.

`seal_plaintext_rows` is the data half of migration 0003: the key is not the database's to
know, so Alembic turns the env columns into text and the store, which holds the key, then
seals every row still in clear (written before 0003) in the same transaction.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection

from slipway.store.models import AppRow, RevisionRow
from slipway.store.sealing import PREFIX, EnvCipher

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


def seal_plaintext_rows(connection: Connection, cipher: EnvCipher) -> int:
    """Seal every `apps.env` / `revisions.env` still in clear; returns how many were."""
    sealed = 0
    for row_class in (AppRow, RevisionRow):
        table: Table = row_class.__table__  # type: ignore[assignment]
        keys = list(table.primary_key.columns)
        clear = select(*keys, table.c.env).where(table.c.env.not_like(f"{PREFIX}%"))
        for *ids, env in connection.execute(clear).all():
            where = [col == value for col, value in zip(keys, ids, strict=True)]
            connection.execute(
                update(table).where(*where).values(env=cipher.seal(cipher.open(env)))
            )
            sealed += 1
    return sealed
