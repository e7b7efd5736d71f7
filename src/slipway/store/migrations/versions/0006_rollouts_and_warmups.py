"""Desired state for the reconciler (issue 13): a rollout's replicas and traffic warm-ups.

- `deployments.rollout_replicas`: set when a deployment's release phase is over, how many
  replicas its new revision runs until the revision enters the traffic list. A rollout
  whose process died is resumed from it by the next replica owner.
- `warmups`: revisions a traffic change starts before it is stored (revision -> replicas,
  until `expires_at`), so the replica owner starts them whichever process took the request.

A plain `ADD COLUMN` (nullable) and a `CREATE TABLE` on both backends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from slipway.store.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("rollout_replicas", sa.Integer(), nullable=True))
    op.create_table(
        "warmups",
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("revision_name", sa.String(100), nullable=False),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            name="fk_warmups_workspace_id_app_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "revision_name"],
            ["revisions.app_id", "revisions.name"],
            name="fk_warmups_app_id_revision_name",
        ),
        sa.PrimaryKeyConstraint("app_id", "revision_name", name="pk_warmups"),
    )


def downgrade() -> None:
    op.drop_table("warmups")
    op.drop_column("deployments", "rollout_replicas")
