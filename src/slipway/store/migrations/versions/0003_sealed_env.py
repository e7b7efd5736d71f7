"""Env columns become text: they hold sealed values (`enc:v1:` + a Fernet token).

The key is not the database's: this migration only changes the column type, keeping every
existing value as JSON text, and `SqlStore.migrate` then seals the rows still in clear
(`store/migrate.py: seal_plaintext_rows`), in the same transaction.

PostgreSQL converts the type in place. SQLite cannot alter a column's type, and rebuilding
`apps` would cascade-delete its children (foreign keys are on inside the migration's
transaction), so the value moves through a new column: add, copy, drop, rename (SQLite
3.35+).

Revision ID: 0003
Revises: 0002
Create Date: 2025-04-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("apps", "revisions")  # constants: the f-strings below interpolate nothing else


def _sqlite_retype(table: str, sql_type: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD COLUMN env_new {sql_type} NOT NULL DEFAULT '{{}}'")
    op.execute(f"UPDATE {table} SET env_new = env")  # noqa: S608 (constant names)
    op.execute(f"ALTER TABLE {table} DROP COLUMN env")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN env_new TO env")


def upgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "sqlite":
            _sqlite_retype(table, "TEXT")
        else:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN env TYPE TEXT USING env::text")


def downgrade() -> None:
    """Back to JSON. Sealed values stay sealed (as JSON strings): nothing is lost, and only
    a Slipway with the key can read them."""
    for table in TABLES:
        if op.get_context().dialect.name == "sqlite":
            _sqlite_retype(table, "JSON")
            op.execute(f"UPDATE {table} SET env = json_quote(env) WHERE env LIKE 'enc:v1:%'")  # noqa: S608
        else:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN env TYPE JSON USING "
                "(CASE WHEN env LIKE 'enc:v1:%' THEN to_json(env) ELSE env::json END)"
            )
