"""Custom domains (0008): the workspace's repository, and the platform-wide questions of the
certificate loop (`DomainMethods`, mixed into `SqlStore`).

A hostname is unique in the whole platform: the unique index decides (two workspaces that
add the same name at once: one gets `Conflict`). The loop writes a domain by id, only while
it still exists, so a domain deleted while its certificate was being issued stays deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from slipway.domain.errors import Conflict
from slipway.domain.models import Domain
from slipway.store import mapping
from slipway.store.engine import Database
from slipway.store.models import DomainRow
from slipway.store.repositories import ScopedRepo, rowcount

_FIXED = frozenset({"id", "workspace_id", "app_id", "hostname", "created_at"})


class SqlDomainRepo(ScopedRepo):
    async def create(self, domain: Domain) -> None:
        self._check(domain.workspace_id, "domain")
        try:
            async with self._db.write() as session:
                session.add(DomainRow(**mapping.values(domain)))
        except IntegrityError as exc:
            async with self._db.read() as session:
                taken = await session.scalar(
                    select(DomainRow.id).where(DomainRow.hostname == domain.hostname)
                )
            if taken is not None:
                raise Conflict(f"{domain.hostname} is already in use on this platform") from exc
            raise

    async def list(self, app_id: str) -> list[Domain]:
        query = (
            select(DomainRow)
            .where(DomainRow.workspace_id == self._ws, DomainRow.app_id == app_id)
            .order_by(DomainRow.hostname)
        )
        async with self._db.read() as session:
            return [mapping.domain(row) for row in await session.scalars(query)]

    async def get(self, app_id: str, key: str) -> Domain | None:
        """By id or by hostname."""
        query = select(DomainRow).where(
            DomainRow.workspace_id == self._ws,
            DomainRow.app_id == app_id,
            or_(DomainRow.id == key, DomainRow.hostname == key),
        )
        async with self._db.read() as session:
            row = await session.scalar(query)
            return mapping.domain(row) if row is not None else None

    async def delete(self, app_id: str, domain_id: str) -> bool:
        stmt = delete(DomainRow).where(
            DomainRow.workspace_id == self._ws,
            DomainRow.app_id == app_id,
            DomainRow.id == domain_id,
        )
        async with self._db.write() as session:
            return rowcount(await session.execute(stmt)) > 0


class DomainMethods:
    """`slipway.ports.CertificateBoard`: what the certificate loop and `/metrics` ask."""

    _db: Database

    async def domains_due(self, now: datetime) -> list[Domain]:
        query = (
            select(DomainRow)
            .where(DomainRow.next_attempt_at.is_not(None), DomainRow.next_attempt_at <= now)
            .order_by(DomainRow.next_attempt_at)
        )
        async with self._db.read() as session:
            return [mapping.domain(row) for row in await session.scalars(query)]

    async def all_domains(self) -> list[Domain]:
        async with self._db.read() as session:
            query = select(DomainRow).order_by(DomainRow.hostname)
            return [mapping.domain(row) for row in await session.scalars(query)]

    async def save_domain(self, domain: Domain) -> bool:
        """Write the domain's state; False when it was deleted meanwhile."""
        stmt = (
            update(DomainRow)
            .where(DomainRow.workspace_id == domain.workspace_id, DomainRow.id == domain.id)
            .values(**mapping.values(domain, skip=_FIXED))
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            return rowcount(await session.execute(stmt)) > 0
