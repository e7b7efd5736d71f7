"""The rollout's desired state: `deployments.rollout_replicas`.

Set when a deployment's release phase is over: how many replicas its new revision runs
until the revision enters the traffic list (`services/serving/reconcile.py` reads it). A rollout
whose process died is resumed from it by the next replica owner. A plain `ADD COLUMN`
(nullable) on both backends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("rollout_replicas", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("deployments", "rollout_replicas")
