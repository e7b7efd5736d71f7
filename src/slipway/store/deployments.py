"""Repositories for deployments, revisions, traffic splits and build log lines.

Scoped like the others (see `repositories.py`): each query filters by the store's workspace.
Notable choices:
- `DeploymentRepo.update(expect=...)` is one `UPDATE ... WHERE status IN (...)`, so two tasks
  racing to move a deployment cannot both win.
- `RevisionRepo.create` takes the number with `UPDATE apps SET next_revision = next_revision
  + 1 ... RETURNING`: atomic on both backends, and the counter never goes back.
- Deployments sort by `created_at` then `seq` (insertion order), newest first in listings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from slipway.domain.errors import Conflict, Invalid, NotFound
from slipway.domain.models import Deployment, Revision, TrafficSplit
from slipway.domain.names import revision_name
from slipway.domain.states import DeploymentStatus
from slipway.store import mapping
from slipway.store.models import (
    AppRow,
    DeploymentRow,
    LogLineRow,
    RevisionRow,
    TrafficRow,
    WarmupRow,
)
from slipway.store.repositories import ScopedRepo, rowcount

_DEPLOYMENT_FIXED = frozenset({"id", "workspace_id", "app_id"})


class SqlDeploymentRepo(ScopedRepo):
    async def create(self, dep: Deployment) -> None:
        self._check(dep.workspace_id, "deployment")
        try:
            async with self._db.write() as session:
                session.add(DeploymentRow(**mapping.values(dep)))
        except IntegrityError as exc:
            if not await self._app_exists(dep.app_id):
                raise NotFound(f"app {dep.app_id!r} not found") from exc
            raise Conflict(f"a deployment with id {dep.id!r} already exists") from exc

    async def get(self, deployment_id: str) -> Deployment | None:
        query = select(DeploymentRow).where(
            DeploymentRow.workspace_id == self._ws, DeploymentRow.id == deployment_id
        )
        async with self._db.read() as session:
            row = await session.scalar(query)
            return mapping.deployment(row) if row else None

    async def list(
        self, *, app_id: str, status: DeploymentStatus | None, offset: int, limit: int
    ) -> tuple[list[Deployment], int]:
        """Newest first (creation time, then creation order), and the total count."""
        where = [DeploymentRow.workspace_id == self._ws, DeploymentRow.app_id == app_id]
        if status is not None:
            where.append(DeploymentRow.status == DeploymentStatus(status).value)
        query = (
            select(DeploymentRow)
            .where(*where)
            .order_by(DeploymentRow.created_at.desc(), DeploymentRow.seq.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(DeploymentRow).where(*where)
        async with self._db.read() as session:
            rows = [mapping.deployment(row) for row in await session.scalars(query)]
            return rows, int(await session.scalar(count) or 0)

    async def count(self, status: DeploymentStatus) -> int:
        """The workspace's deployments in `status` (every app)."""
        where = (DeploymentRow.workspace_id == self._ws, DeploymentRow.status == status.value)
        query = select(func.count()).select_from(DeploymentRow).where(*where)
        async with self._db.read() as session:
            return int(await session.scalar(query) or 0)

    async def update(
        self, dep: Deployment, *, expect: frozenset[DeploymentStatus] | None = None
    ) -> bool:
        """Write every field of `dep` but its ids; with `expect`, only from those statuses."""
        self._check(dep.workspace_id, "deployment")
        where = [DeploymentRow.workspace_id == self._ws, DeploymentRow.id == dep.id]
        if expect is not None:
            where.append(DeploymentRow.status.in_(sorted(s.value for s in expect)))
        stmt = (
            update(DeploymentRow)
            .where(*where)
            .values(**mapping.values(dep, skip=_DEPLOYMENT_FIXED))
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            return rowcount(await session.execute(stmt)) == 1

    async def _app_exists(self, app_id: str) -> bool:
        query = select(AppRow.id).where(AppRow.workspace_id == self._ws, AppRow.id == app_id)
        async with self._db.read() as session:
            return await session.scalar(query) is not None


class SqlRevisionRepo(ScopedRepo):
    async def create(self, rev: Revision) -> Revision:
        """Store `rev` under the app's next number; returns it with `number` and `name`.
        Idempotent per deployment (unique `deployment_id`): a deployment re-run after a crash
        gets the revision it already has, never a second one."""
        self._check(rev.workspace_id, "revision")
        existing = await self.get_for_deployment(rev.deployment_id)
        if existing is not None:
            return existing
        bump = (
            update(AppRow)
            .where(AppRow.workspace_id == self._ws, AppRow.id == rev.app_id)
            .values(next_revision=AppRow.next_revision + 1)
            .returning(AppRow.next_revision, AppRow.name)
            .execution_options(synchronize_session=False)
        )
        try:
            async with self._db.write() as session:
                taken = (await session.execute(bump)).one_or_none()
                if taken is None:
                    raise NotFound(f"app {rev.app_id!r} not found")
                number = taken.next_revision - 1
                stored = dataclasses.replace(
                    rev, number=number, name=revision_name(taken.name, number), env=dict(rev.env)
                )
                session.add(RevisionRow(**mapping.values(stored, cipher=self._db.cipher)))
        except IntegrityError as exc:
            raced = await self.get_for_deployment(rev.deployment_id)  # another process won
            if raced is not None:
                return raced
            raise NotFound(f"deployment {rev.deployment_id!r} not found") from exc
        return stored

    async def list(self, app_id: str) -> list[Revision]:
        query = (
            select(RevisionRow)
            .where(RevisionRow.workspace_id == self._ws, RevisionRow.app_id == app_id)
            .order_by(RevisionRow.number.desc())
        )
        async with self._db.read() as session:
            return [mapping.revision(row, self._db.cipher) for row in await session.scalars(query)]

    async def get(self, app_id: str, name: str) -> Revision | None:
        query = select(RevisionRow).where(
            RevisionRow.workspace_id == self._ws,
            RevisionRow.app_id == app_id,
            RevisionRow.name == name,
        )
        async with self._db.read() as session:
            row = await session.scalar(query)
            return mapping.revision(row, self._db.cipher) if row else None

    async def get_for_deployment(self, deployment_id: str) -> Revision | None:
        query = (
            select(RevisionRow)
            .where(RevisionRow.workspace_id == self._ws, RevisionRow.deployment_id == deployment_id)
            .order_by(RevisionRow.number.desc())
            .limit(1)
        )
        async with self._db.read() as session:
            row = await session.scalar(query)
            return mapping.revision(row, self._db.cipher) if row else None


class SqlWarmupRepo(ScopedRepo):
    async def get(self, app_id: str, *, now: datetime) -> dict[str, int]:
        query = select(WarmupRow).where(
            WarmupRow.workspace_id == self._ws,
            WarmupRow.app_id == app_id,
            WarmupRow.expires_at > now,
        )
        async with self._db.read() as session:
            return {row.revision_name: row.replicas for row in await session.scalars(query)}

    async def set(self, app_id: str, counts: Mapping[str, int], *, until: datetime) -> None:
        """Replace the app's warm-up with `counts`, in one transaction."""
        rows = [
            {
                "app_id": app_id,
                "revision_name": name,
                "workspace_id": self._ws,
                "replicas": n,
                "expires_at": until,
            }
            for name, n in counts.items()
        ]
        app = select(AppRow.id).where(AppRow.workspace_id == self._ws, AppRow.id == app_id)
        try:
            async with self._db.write() as session:
                if await session.scalar(app) is None:
                    raise NotFound(f"app {app_id!r} not found")
                await session.execute(self._clear(app_id))
                if rows:
                    await session.execute(insert(WarmupRow), rows)
        except IntegrityError as exc:
            raise Invalid.field("traffic", "names a revision this app does not have") from exc

    async def clear(self, app_id: str) -> None:
        async with self._db.write() as session:
            await session.execute(self._clear(app_id))

    def _clear(self, app_id: str) -> Any:
        return delete(WarmupRow).where(
            WarmupRow.workspace_id == self._ws, WarmupRow.app_id == app_id
        )


class SqlTrafficRepo(ScopedRepo):
    async def get(self, app_id: str) -> list[TrafficSplit]:
        query = (
            select(TrafficRow)
            .where(TrafficRow.workspace_id == self._ws, TrafficRow.app_id == app_id)
            .order_by(TrafficRow.position)
        )
        async with self._db.read() as session:
            return [
                TrafficSplit(revision_name=row.revision_name, percent=row.percent, tag=row.tag)
                for row in await session.scalars(query)
            ]

    async def set(self, app_id: str, splits: Sequence[TrafficSplit]) -> None:
        """Replace every split of the app, keeping their order, in one transaction."""
        app = select(AppRow.id).where(AppRow.workspace_id == self._ws, AppRow.id == app_id)
        clear = delete(TrafficRow).where(
            TrafficRow.workspace_id == self._ws, TrafficRow.app_id == app_id
        )
        rows = [
            {
                "app_id": app_id,
                "position": position,
                "workspace_id": self._ws,
                "revision_name": split.revision_name,
                "percent": split.percent,
                "tag": split.tag,
            }
            for position, split in enumerate(splits)
        ]
        try:
            async with self._db.write() as session:
                if await session.scalar(app) is None:
                    raise NotFound(f"app {app_id!r} not found")
                await session.execute(clear)
                if rows:
                    await session.execute(insert(TrafficRow), rows)
        except IntegrityError as exc:
            raise Invalid.field("traffic", "names a revision this app does not have") from exc


class SqlLogRepo(ScopedRepo):
    async def append(self, deployment_id: str, first_index: int, lines: Sequence[str]) -> None:
        """Store `lines` as indexes `first_index`, `first_index + 1`, ..."""
        if not lines:
            return
        rows = [
            {
                "deployment_id": deployment_id,
                "idx": first_index + offset,
                "workspace_id": self._ws,
                "line": line,
            }
            for offset, line in enumerate(lines)
        ]
        try:
            async with self._db.write() as session:
                await session.execute(insert(LogLineRow), rows)
        except IntegrityError as exc:
            if await self._deployment_exists(deployment_id):
                raise Conflict(
                    f"log lines from index {first_index} of deployment {deployment_id!r} "
                    "are already stored"
                ) from exc
            raise NotFound(f"deployment {deployment_id!r} not found") from exc

    async def list(self, deployment_id: str, *, since: int = 0) -> list[str]:
        query = (
            select(LogLineRow.line)
            .where(
                LogLineRow.workspace_id == self._ws,
                LogLineRow.deployment_id == deployment_id,
                LogLineRow.idx >= since,
            )
            .order_by(LogLineRow.idx)
        )
        async with self._db.read() as session:
            return list(await session.scalars(query))

    async def _deployment_exists(self, deployment_id: str) -> bool:
        query = select(DeploymentRow.id).where(
            DeploymentRow.workspace_id == self._ws, DeploymentRow.id == deployment_id
        )
        async with self._db.read() as session:
            return await session.scalar(query) is not None
