"""Custom domains and HTTPS (issue 16): the `domains` table (a hostname unique in the whole
platform, bound to an app or one of its tags, with its certificate's state and file), and
`apps.https_only` (plain HTTP redirects to HTTPS once a certificate exists; default on).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from slipway.store.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "apps", sa.Column("https_only", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("tag", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("certificate_path", sa.Text(), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("not_after", UTCDateTime(), nullable=True),
        sa.Column("serial", sa.String(100), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("challenge_token", sa.String(200), nullable=True),
        sa.Column("challenge_answer", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            name="fk_domains_workspace_id_app_id",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('pendingDns', 'issuing', 'ready', 'failed')", name="ck_domains_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_domains"),
    )
    op.create_index("uq_domains_hostname", "domains", ["hostname"], unique=True)
    op.create_index("ix_domains_workspace_id_app_id", "domains", ["workspace_id", "app_id"])
    op.create_index("ix_domains_next_attempt_at", "domains", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("domains")
    op.drop_column("apps", "https_only")
