"""`SqlStore`: the `slipway.ports.Store` over SQLAlchemy's async engine.

`SqlStore.scoped(ws)` hands out repositories bound to one workspace; the few questions that
must cross workspaces (authentication, the deployment worker, the reconciler) are methods of
the store itself, each with one purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, or_, select, text, update

from slipway.domain.models import ApiKey, App, Deployment, Workspace, utcnow
from slipway.domain.states import DeploymentStatus
from slipway.ports import (
    ApiKeyRepo,
    AppRepo,
    DeploymentRepo,
    DomainRepo,
    IdempotencyRepo,
    LogRepo,
    RevisionRepo,
    ScopedStore,
    Store,
    TrafficRepo,
    WarmupRepo,
    WorkspaceRepo,
)
from slipway.store import mapping
from slipway.store.deployments import (
    SqlDeploymentRepo,
    SqlLogRepo,
    SqlRevisionRepo,
    SqlTrafficRepo,
    SqlWarmupRepo,
)
from slipway.store.domains import DomainMethods, SqlDomainRepo
from slipway.store.engine import Database
from slipway.store.idempotency import SqlIdempotencyRepo
from slipway.store.leases import LeaseMethods
from slipway.store.migrate import seal_plaintext_rows, upgrade
from slipway.store.models import (
    ApiKeyRow,
    AppRow,
    DeploymentRow,
    DomainRow,
    TrafficRow,
    WorkspaceRow,
)
from slipway.store.published import ReplicaMethods
from slipway.store.repositories import SqlApiKeyRepo, SqlAppRepo, SqlWorkspaceRepo
from slipway.store.sealing import EnvCipher

_ACTIVE = (DeploymentStatus.BUILDING.value, DeploymentStatus.DEPLOYING.value)
_MIGRATE_LOCK = 0x534C5750  # "SLWP": the advisory lock key that serializes migrations


class ScopedSqlStore:
    """The repositories of one workspace (`slipway.ports.ScopedStore`)."""

    def __init__(self, db: Database, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self.api_keys: ApiKeyRepo = SqlApiKeyRepo(db, workspace_id)
        self.apps: AppRepo = SqlAppRepo(db, workspace_id)
        self.deployments: DeploymentRepo = SqlDeploymentRepo(db, workspace_id)
        self.revisions: RevisionRepo = SqlRevisionRepo(db, workspace_id)
        self.traffic: TrafficRepo = SqlTrafficRepo(db, workspace_id)
        self.warmups: WarmupRepo = SqlWarmupRepo(db, workspace_id)
        self.logs: LogRepo = SqlLogRepo(db, workspace_id)
        self.idempotency: IdempotencyRepo = SqlIdempotencyRepo(db, workspace_id)
        self.domains: DomainRepo = SqlDomainRepo(db, workspace_id)


class SqlStore(LeaseMethods, ReplicaMethods, DomainMethods):
    """A `Store` on SQLite (`sqlite:///path`) or PostgreSQL (`postgresql://...`).

    `connect_args` go to the driver unchanged (e.g. asyncpg's `server_settings`). `cipher`
    seals env values at rest (`sealing.py`); without one, a key of this process only.
    Leases (`leases.py`) come from `LeaseMethods`, published replicas and NOTIFY
    (`replicas.py`) from `ReplicaMethods`, the certificate loop's questions (`domains.py`)
    from `DomainMethods`.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_args: Mapping[str, Any] | None = None,
        cipher: EnvCipher | None = None,
    ) -> None:
        self._db = Database(url, connect_args=connect_args, cipher=cipher)
        self.workspaces: WorkspaceRepo = SqlWorkspaceRepo(self._db)

    def scoped(self, workspace_id: str) -> ScopedSqlStore:
        return ScopedSqlStore(self._db, workspace_id)

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (`alembic upgrade head`); idempotent."""
        async with self._db.write_connection() as conn:
            if conn.dialect.name == "postgresql":
                # Several processes may start at once on a fresh database: one migrates while
                # the others wait here, then find the schema at head (released at commit).
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK}
                )
            await conn.run_sync(upgrade)
            await conn.run_sync(seal_plaintext_rows, self._db.cipher)

    async def close(self) -> None:
        await self._db.close()

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        query = select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)
        async with self._db.read() as session:
            row = await session.scalar(query)
            return mapping.api_key(row) if row else None

    async def touch_api_key(self, key_id: str) -> None:
        stmt = (
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id)
            .values(last_used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            await session.execute(stmt)

    async def active_deployments(self) -> list[Deployment]:
        query = (
            select(DeploymentRow)
            .where(DeploymentRow.status.in_(_ACTIVE))
            .order_by(DeploymentRow.created_at, DeploymentRow.seq)
        )
        async with self._db.read() as session:
            return [mapping.deployment(row) for row in await session.scalars(query)]

    async def serving_apps(self) -> list[tuple[Workspace, App]]:
        """Every app the router serves (at least one traffic split, or a custom domain: its
        certificate's challenge is answered before the app is deployed), with its
        workspace."""
        has_traffic = exists().where(
            TrafficRow.workspace_id == AppRow.workspace_id, TrafficRow.app_id == AppRow.id
        )
        has_domain = exists().where(
            DomainRow.workspace_id == AppRow.workspace_id, DomainRow.app_id == AppRow.id
        )
        query = (
            select(WorkspaceRow, AppRow)
            .join(AppRow, AppRow.workspace_id == WorkspaceRow.id)
            .where(or_(has_traffic, has_domain))
            .order_by(WorkspaceRow.name, AppRow.name)
        )
        async with self._db.read() as session:
            result = await session.execute(query)
            cipher = self._db.cipher
            pairs = result.tuples()
            return [(mapping.workspace(ws), mapping.app(app, cipher)) for ws, app in pairs]


if TYPE_CHECKING:  # mypy proves the classes satisfy the ports' Protocols

    def _is_a_store(store: SqlStore) -> Store:
        return store

    def _is_a_scoped_store(scoped: ScopedSqlStore) -> ScopedStore:
        return scoped
