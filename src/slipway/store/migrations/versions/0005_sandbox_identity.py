"""Sandboxes: an app's own number (its sandbox uid), its memory limit, replicas' namespaces.

- `apps.serial`: platform-unique and never reused, from the new `counters` row
  `app_serial` (a counter only grows, so deleting an app never frees its number for another
  app that would then own its files). Existing apps are numbered in creation order.
- `apps.memory_mb` and `revisions.memory_mb`: the replicas' memory limit (null: default).
- `replicas.netns`: the network namespace a published replica listens in.

Plain `ADD COLUMN`, `CREATE TABLE` and `CREATE UNIQUE INDEX` (after the numbering) on both
backends: no table is rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("memory_mb", sa.Integer(), nullable=True))
    op.add_column("apps", sa.Column("serial", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("revisions", sa.Column("memory_mb", sa.Integer(), nullable=True))
    op.add_column("replicas", sa.Column("netns", sa.String(200), nullable=False, server_default=""))
    op.create_table(
        "counters",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM apps ORDER BY created_at, id"))]
    for serial, app_id in enumerate(ids, start=1):
        bind.execute(
            sa.text("UPDATE apps SET serial = :serial WHERE id = :id"),
            {"serial": serial, "id": app_id},
        )
    bind.execute(
        sa.text("INSERT INTO counters (name, value) VALUES ('app_serial', :n)"), {"n": len(ids)}
    )
    op.create_index("uq_apps_serial", "apps", ["serial"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_apps_serial", table_name="apps")
    op.drop_table("counters")
    op.drop_column("replicas", "netns")
    op.drop_column("revisions", "memory_mb")
    op.drop_column("apps", "serial")
    op.drop_column("apps", "memory_mb")
