"""Initial schema: workspaces, api keys, apps, deployments, revisions, traffic, build logs.

Revision ID: 0001
Revises:
Create Date: 2025-04-17
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
NAME = sa.String(100)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(40), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_api_keys_workspace_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id"])
    op.create_table(
        "apps",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("git_url", sa.Text(), nullable=False),
        sa.Column("git_branch", sa.String(200), nullable=False),
        _text("root_directory"),
        sa.Column("buildpack", sa.String(40), nullable=False),
        _text("start_command"),
        _text("build_command"),
        _text("install_command"),
        _text("release_command"),
        _text("health_check_path"),
        sa.Column("env", sa.JSON(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=True),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("next_revision", sa.Integer(), server_default="1", nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_apps_workspace_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("workspace_id", "name", name="uq_apps_workspace_id_name"),
        sa.UniqueConstraint("workspace_id", "id", name="uq_apps_workspace_id_id"),
    )
    op.create_table(
        "deployments",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("app_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("git_branch", sa.String(200), nullable=True),
        sa.Column("git_commit_sha", sa.String(40), nullable=True),
        _text("git_commit_message"),
        sa.Column("buildpack", sa.String(40), nullable=False),
        _text("image_ref"),
        sa.Column("revision_name", NAME, nullable=True),
        sa.Column("rolled_back_from", ID, nullable=True),
        _text("error"),
        sa.Column("no_traffic", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_deployments"),
        sa.UniqueConstraint("id", name="uq_deployments_id"),
        sa.UniqueConstraint("workspace_id", "id", name="uq_deployments_workspace_id_id"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            name="fk_deployments_workspace_id_app_id",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'building', 'deploying', 'succeeded', 'failed', 'cancelled')",
            name="ck_deployments_status",
        ),
    )
    op.create_index(
        "ix_deployments_workspace_id_app_id_created_at",
        "deployments",
        ["workspace_id", "app_id", "created_at"],
    )
    op.create_index("ix_deployments_status_created_at", "deployments", ["status", "created_at"])
    op.create_table(
        "revisions",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("image_ref", sa.Text(), nullable=False),
        sa.Column("image_digest", sa.String(80), nullable=False),
        sa.Column("start_command", sa.Text(), nullable=False),
        sa.Column("env", sa.JSON(), nullable=False),
        _text("health_check_path"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("app_id", "number", name="pk_revisions"),
        sa.UniqueConstraint("app_id", "name", name="uq_revisions_app_id_name"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            name="fk_revisions_workspace_id_app_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "deployment_id"],
            ["deployments.workspace_id", "deployments.id"],
            name="fk_revisions_workspace_id_deployment_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_revisions_deployment_id", "revisions", ["deployment_id"])
    op.create_table(
        "traffic_splits",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("revision_name", NAME, nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("tag", NAME, nullable=True),
        sa.PrimaryKeyConstraint("app_id", "position", name="pk_traffic_splits"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            name="fk_traffic_splits_workspace_id_app_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "revision_name"],
            ["revisions.app_id", "revisions.name"],
            name="fk_traffic_splits_app_id_revision_name",
        ),
    )
    op.create_table(
        "log_lines",
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "idx", name="pk_log_lines"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "deployment_id"],
            ["deployments.workspace_id", "deployments.id"],
            name="fk_log_lines_workspace_id_deployment_id",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    tables = ("log_lines", "traffic_splits", "revisions", "deployments", "apps", "api_keys")
    for table in (*tables, "workspaces"):
        op.drop_table(table)
