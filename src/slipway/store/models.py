"""The tables, as SQLAlchemy 2 typed declarative models.

Design notes:
- Every row that belongs to a workspace carries `workspace_id`, and child rows point at their
  parent through a composite foreign key `(workspace_id, parent_id)`. The database itself
  therefore refuses a deployment, revision, split or log line whose parent lives in another
  workspace.
- `apps.next_revision` is the next revision number to hand out. It only grows, so numbers are
  never reused even when revision rows go away.
- `deployments.seq` is an auto-increment surrogate key: it records creation order exactly,
  which breaks ties between deployments created within the same second.
- Migrations (`store/migrations/versions`) are hand-written; `tests/integration/store` checks
  that they produce exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slipway.store.types import UTCDateTime

ID = String(40)
NAME = String(100)
STATUS_CHECK = "status IN ('queued', 'building', 'deploying', 'succeeded', 'failed', 'cancelled')"
DOMAIN_STATUS_CHECK = "status IN ('pendingDns', 'issuing', 'ready', 'failed')"
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(40))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class AppRow(Base):
    __tablename__ = "apps"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        UniqueConstraint("workspace_id", "id"),
        Index("uq_apps_serial", "serial", unique=True),  # 0005
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ID, ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    git_url: Mapped[str] = mapped_column(Text)
    git_branch: Mapped[str] = mapped_column(String(200))
    root_directory: Mapped[str | None] = mapped_column(Text)
    buildpack: Mapped[str] = mapped_column(String(40))
    start_command: Mapped[str | None] = mapped_column(Text)
    build_command: Mapped[str | None] = mapped_column(Text)
    install_command: Mapped[str | None] = mapped_column(Text)
    release_command: Mapped[str | None] = mapped_column(Text)
    health_check_path: Mapped[str | None] = mapped_column(Text)
    env: Mapped[str] = mapped_column(Text)  # sealed: `enc:v1:` + Fernet token (sealing.py)
    min_replicas: Mapped[int]
    max_replicas: Mapped[int | None]
    replicas: Mapped[int]
    next_revision: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    memory_mb: Mapped[int | None]  # 0005
    target_concurrency: Mapped[int] = mapped_column(server_default="10")  # 0007
    serial: Mapped[int] = mapped_column(server_default="0")  # 0005, from counters.app_serial
    https_only: Mapped[bool] = mapped_column(Boolean, server_default=sa_true())  # 0008


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint(STATUS_CHECK, name="status"),
        Index(None, "workspace_id", "app_id", "created_at"),
        Index(None, "status", "created_at"),
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    workspace_id: Mapped[str] = mapped_column(ID)
    app_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))
    git_branch: Mapped[str | None] = mapped_column(String(200))
    git_commit_sha: Mapped[str | None] = mapped_column(String(40))
    git_commit_message: Mapped[str | None] = mapped_column(Text)
    buildpack: Mapped[str] = mapped_column(String(40))
    image_ref: Mapped[str | None] = mapped_column(Text)
    revision_name: Mapped[str | None] = mapped_column(NAME)
    rolled_back_from: Mapped[str | None] = mapped_column(ID)
    error: Mapped[str | None] = mapped_column(Text)
    no_traffic: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    rollout_replicas: Mapped[int | None]  # 0006
    # The worker running it and until when its lease holds (store/leases.py; 0004).
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None]


class RevisionRow(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("app_id", "name"),
        ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "deployment_id"],
            ["deployments.workspace_id", "deployments.id"],
            ondelete="CASCADE",
        ),
        # One revision per deployment, whatever crashed and re-ran it (0004).
        Index("uq_revisions_deployment_id", "deployment_id", unique=True),
    )

    app_id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    workspace_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(NAME)
    deployment_id: Mapped[str] = mapped_column(ID)
    image_ref: Mapped[str] = mapped_column(Text)
    image_digest: Mapped[str] = mapped_column(String(80))
    start_command: Mapped[str] = mapped_column(Text)
    memory_mb: Mapped[int | None]  # 0005
    env: Mapped[str] = mapped_column(Text)  # sealed: `enc:v1:` + Fernet token (sealing.py)
    health_check_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class TrafficRow(Base):
    __tablename__ = "traffic_splits"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["app_id", "revision_name"],
            ["revisions.app_id", "revisions.name"],
        ),
    )

    app_id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    workspace_id: Mapped[str] = mapped_column(ID)
    revision_name: Mapped[str] = mapped_column(NAME)
    percent: Mapped[int]
    tag: Mapped[str | None] = mapped_column(NAME)


class WarmupRow(Base):
    """Revisions a traffic change is starting before it is stored (0006): the reconciler runs
    them until `expires_at` (a request that died leaves nothing behind for long)."""

    __tablename__ = "warmups"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["app_id", "revision_name"],
            ["revisions.app_id", "revisions.name"],
        ),
    )

    app_id: Mapped[str] = mapped_column(ID, primary_key=True)
    revision_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ID)
    replicas: Mapped[int]
    expires_at: Mapped[datetime]


class LogLineRow(Base):
    __tablename__ = "log_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "deployment_id"],
            ["deployments.workspace_id", "deployments.id"],
            ondelete="CASCADE",
        ),
    )

    deployment_id: Mapped[str] = mapped_column(ID, primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    workspace_id: Mapped[str] = mapped_column(ID)
    line: Mapped[str] = mapped_column(Text)


class IdempotencyRow(Base):
    """One `Idempotency-Key` of a workspace; `status` is null while the first request runs."""

    __tablename__ = "idempotency_keys"

    workspace_id: Mapped[str] = mapped_column(
        ID, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


class LeaseRow(Base):
    """A named lease (leader election): held by `owner` until `expires_at` (0004)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]


class ReplicaRow(Base):
    """Actual state a replica-running process publishes: one row per replica (0004).

    `slot` numbers the replicas of one revision in one owner; `ready` ones carry the address
    routers send traffic to. Rows of an owner whose `heartbeat_at` is old are ignored."""

    __tablename__ = "replicas"
    __table_args__ = (Index(None, "app_id"),)

    owner: Mapped[str] = mapped_column(String(80), primary_key=True)
    revision_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    workspace_id: Mapped[str] = mapped_column(ID)
    app_id: Mapped[str] = mapped_column(ID)
    host: Mapped[str] = mapped_column(String(100))
    port: Mapped[int]
    netns: Mapped[str] = mapped_column(String(200), default="", server_default="")  # 0005
    ready: Mapped[bool] = mapped_column(Boolean)
    heartbeat_at: Mapped[datetime]


class DomainRow(Base):
    """A custom domain of an app (0008): `hostname` is unique in the whole platform (the
    index decides a race between two workspaces), and the certificate's state and file
    (the file holds the key: it lives in the data dir, never here)."""

    __tablename__ = "domains"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "app_id"],
            ["apps.workspace_id", "apps.id"],
            ondelete="CASCADE",
        ),
        Index("uq_domains_hostname", "hostname", unique=True),
        Index(None, "workspace_id", "app_id"),
        Index(None, "next_attempt_at"),
        CheckConstraint(DOMAIN_STATUS_CHECK, name="status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ID)
    app_id: Mapped[str] = mapped_column(ID)
    hostname: Mapped[str] = mapped_column(String(253))
    tag: Mapped[str | None] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    certificate_path: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None]
    serial: Mapped[str | None] = mapped_column(String(100))
    issuer: Mapped[str | None] = mapped_column(Text)
    challenge_token: Mapped[str | None] = mapped_column(String(200))
    challenge_answer: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CounterRow(Base):
    """Named counters that only grow (0005): `app_serial` numbers apps, never reusing one."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
