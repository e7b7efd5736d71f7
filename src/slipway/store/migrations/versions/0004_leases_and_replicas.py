"""Several control-plane processes: deployment leases, leader leases, published replicas.

- `deployments.lease_owner` / `lease_expires_at`: the worker running a deployment and until
  when its lease holds (renewed by its heartbeat). An expired lease means the worker died:
  the reconciler re-queues or fails the deployment (`services/deploy/recovery.py`).
- `revisions.deployment_id` becomes unique (it was indexed): a deployment re-run after a
  crash finds its revision instead of creating a second one.
- `leases`: named leases for leader election.
- `replicas`: the replicas each process runs, published for routers and the API.

Plain `ADD COLUMN`, `CREATE [UNIQUE] INDEX` and `CREATE TABLE` on both backends: no table
is rebuilt (rebuilding on SQLite would cascade-delete children).

Revision ID: 0004
Revises: 0003
Create Date: 2025-04-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("lease_owner", sa.String(80), nullable=True))
    op.add_column(
        "deployments", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.drop_index("ix_revisions_deployment_id", table_name="revisions")
    op.create_index("uq_revisions_deployment_id", "revisions", ["deployment_id"], unique=True)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "replicas",
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("revision_key", sa.String(300), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("host", sa.String(100), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "revision_key", "slot", name="pk_replicas"),
    )
    op.create_index("ix_replicas_app_id", "replicas", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_replicas_app_id", table_name="replicas")
    op.drop_table("replicas")
    op.drop_table("leases")
    op.drop_index("uq_revisions_deployment_id", table_name="revisions")
    op.create_index("ix_revisions_deployment_id", "revisions", ["deployment_id"])
    op.drop_column("deployments", "lease_expires_at")
    op.drop_column("deployments", "lease_owner")
