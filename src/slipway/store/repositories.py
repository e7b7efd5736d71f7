"""Repositories for workspaces, API keys and apps.

Every scoped repository holds one `workspace_id` and adds `workspace_id = :ws` to each of its
queries, so an id from another workspace behaves exactly like an unknown one. Each method is
one transaction. Objects passed in for another workspace are a programming error
(`ValueError`), never a silent write elsewhere.

Unique constraints decide name conflicts (no check-then-insert race): an `IntegrityError` is
then explained by looking the name up, and becomes `Conflict` with a readable message.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NoReturn, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError

from slipway.domain.errors import Conflict, NotFound
from slipway.domain.models import ApiKey, App, Workspace
from slipway.store import mapping
from slipway.store.engine import Database
from slipway.store.models import (
    ApiKeyRow,
    AppRow,
    CounterRow,
    DeploymentRow,
    DomainRow,
    LogLineRow,
    RevisionRow,
    TrafficRow,
    WarmupRow,
    WorkspaceRow,
)

_APP_FIXED = frozenset({"id", "workspace_id", "created_at", "serial"})
APP_SERIAL = "app_serial"


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE."""
    return cast(CursorResult[Any], result).rowcount


class ScopedRepo:
    """Base of the repositories bound to one workspace."""

    def __init__(self, db: Database, workspace_id: str) -> None:
        self._db = db
        self._ws = workspace_id

    def _check(self, workspace_id: str, what: str) -> None:
        if workspace_id != self._ws:
            raise ValueError(
                f"{what} belongs to workspace {workspace_id!r}, "
                f"but this store is scoped to {self._ws!r}"
            )


class SqlWorkspaceRepo:
    """Workspaces are the scopes themselves, so this one repository is not scoped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, ws: Workspace) -> None:
        try:
            async with self._db.write() as session:
                session.add(WorkspaceRow(**mapping.values(ws)))
        except IntegrityError as exc:
            if await self.get_by_name(ws.name) is not None:
                raise Conflict(f"a workspace named {ws.name!r} already exists") from exc
            raise

    async def get(self, workspace_id: str) -> Workspace | None:
        async with self._db.read() as session:
            row = await session.get(WorkspaceRow, workspace_id)
            return mapping.workspace(row) if row else None

    async def get_by_name(self, name: str) -> Workspace | None:
        async with self._db.read() as session:
            row = await session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == name))
            return mapping.workspace(row) if row else None

    async def list(self, *, limit: int | None = None) -> list[Workspace]:
        """The workspaces, oldest first (the operator's `slipway workspace list`); the first
        `limit` of them when given."""
        query = select(WorkspaceRow).order_by(WorkspaceRow.created_at, WorkspaceRow.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._db.read() as session:
            return [mapping.workspace(row) for row in await session.scalars(query)]


class SqlApiKeyRepo(ScopedRepo):
    async def create(self, key: ApiKey) -> None:
        self._check(key.workspace_id, "api key")
        try:
            async with self._db.write() as session:
                session.add(ApiKeyRow(**mapping.values(key)))
        except IntegrityError as exc:
            raise Conflict("an api key with that id or hash already exists") from exc

    async def list(self) -> list[ApiKey]:
        query = (
            select(ApiKeyRow)
            .where(ApiKeyRow.workspace_id == self._ws)
            .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        )
        async with self._db.read() as session:
            return [mapping.api_key(row) for row in await session.scalars(query)]

    async def delete(self, key_id: str) -> bool:
        """False when the workspace has no such key; Conflict when it is the workspace's last
        one (the count and the delete in one transaction, the workspace row locked on
        PostgreSQL, so two revocations at once cannot both pass)."""
        mine = (ApiKeyRow.workspace_id == self._ws, ApiKeyRow.id == key_id)
        async with self._db.write() as session:
            await session.execute(
                select(WorkspaceRow.id).where(WorkspaceRow.id == self._ws).with_for_update()
            )
            if await session.scalar(select(ApiKeyRow.id).where(*mine)) is None:
                return False
            count = select(func.count()).select_from(ApiKeyRow)
            if (await session.scalar(count.where(ApiKeyRow.workspace_id == self._ws)) or 0) <= 1:
                raise Conflict(
                    "this is the workspace's last API key: create another one before revoking it"
                )
            return rowcount(await session.execute(delete(ApiKeyRow).where(*mine))) > 0


class SqlAppRepo(ScopedRepo):
    async def create(self, app: App) -> App:
        """Store a new app, numbering it (`serial`) from the `app_serial` counter."""
        self._check(app.workspace_id, "app")
        try:
            async with self._db.write() as session:
                bump = (
                    update(CounterRow)
                    .where(CounterRow.name == APP_SERIAL)
                    .values(value=CounterRow.value + 1)
                    .returning(CounterRow.value)
                )
                app = replace(app, serial=int((await session.execute(bump)).scalar_one()))
                values = mapping.values(app, cipher=self._db.cipher)
                session.add(AppRow(**values, next_revision=1))
        except IntegrityError as exc:
            await self._explain(exc, app)
        return app

    async def get(self, app_id: str) -> App | None:
        async with self._db.read() as session:
            row = await session.scalar(
                select(AppRow).where(AppRow.workspace_id == self._ws, AppRow.id == app_id)
            )
            return mapping.app(row, self._db.cipher) if row else None

    async def get_by_name(self, name: str) -> App | None:
        async with self._db.read() as session:
            row = await session.scalar(
                select(AppRow).where(AppRow.workspace_id == self._ws, AppRow.name == name)
            )
            return mapping.app(row, self._db.cipher) if row else None

    async def list(self, *, offset: int, limit: int) -> tuple[list[App], int]:
        mine = AppRow.workspace_id == self._ws
        query = select(AppRow).where(mine).order_by(AppRow.name, AppRow.id)
        count = select(func.count()).select_from(AppRow).where(mine)
        async with self._db.read() as session:
            rows = await session.scalars(query.offset(offset).limit(limit))
            apps = [mapping.app(row, self._db.cipher) for row in rows]
            return apps, int(await session.scalar(count) or 0)

    async def update(self, app: App) -> None:
        """Write every setting of `app` (not its id, workspace or creation time)."""
        self._check(app.workspace_id, "app")
        stmt = (
            update(AppRow)
            .where(AppRow.workspace_id == self._ws, AppRow.id == app.id)
            .values(**mapping.values(app, skip=_APP_FIXED, cipher=self._db.cipher))
            .execution_options(synchronize_session=False)
        )
        try:
            async with self._db.write() as session:
                found = rowcount(await session.execute(stmt)) > 0
        except IntegrityError as exc:
            await self._explain(exc, app)
        if not found:
            raise NotFound(f"app {app.id!r} not found")

    async def record_branch(self, app_id: str, branch: str) -> None:
        stmt = (
            update(AppRow)
            .where(AppRow.workspace_id == self._ws, AppRow.id == app_id, AppRow.git_branch == "")
            .values(git_branch=branch)
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            await session.execute(stmt)

    async def delete(self, app_id: str) -> bool:
        """Delete the app with its deployments, revisions, traffic splits, warm-ups, custom
        domains and log lines."""
        ws = self._ws
        deployments = select(DeploymentRow.id).where(
            DeploymentRow.workspace_id == ws, DeploymentRow.app_id == app_id
        )
        children = (
            delete(LogLineRow).where(
                LogLineRow.workspace_id == ws, LogLineRow.deployment_id.in_(deployments)
            ),
            delete(TrafficRow).where(TrafficRow.workspace_id == ws, TrafficRow.app_id == app_id),
            delete(WarmupRow).where(WarmupRow.workspace_id == ws, WarmupRow.app_id == app_id),
            delete(DomainRow).where(DomainRow.workspace_id == ws, DomainRow.app_id == app_id),
            delete(RevisionRow).where(RevisionRow.workspace_id == ws, RevisionRow.app_id == app_id),
            delete(DeploymentRow).where(
                DeploymentRow.workspace_id == ws, DeploymentRow.app_id == app_id
            ),
        )
        async with self._db.write() as session:
            for stmt in children:
                await session.execute(stmt)
            app = delete(AppRow).where(AppRow.workspace_id == ws, AppRow.id == app_id)
            return rowcount(await session.execute(app)) > 0

    async def _explain(self, exc: IntegrityError, app: App) -> NoReturn:
        """Turn a failed insert or update into the domain error it means, or re-raise."""
        other = await self.get_by_name(app.name)
        if other is not None and other.id != app.id:
            raise Conflict(f"an app named {app.name!r} already exists in this workspace") from exc
        raise exc
