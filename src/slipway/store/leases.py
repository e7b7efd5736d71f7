"""Leases: which worker runs which deployment, and which process leads (owns replicas).

A deployment's lease is two columns of its row (`lease_owner`, `lease_expires_at`). A worker
takes it when it claims the deployment and renews it while the run goes on; a lease that
expired means its worker died, and recovery (`services/deploy/recovery.py`) re-queues the
deployment (a build), hands it to the replica owner (a rollout) or finishes it.

Claiming is one write transaction:
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` of the oldest runnable candidate, then the
  `UPDATE`. Two workers never lock the same row; a worker skips a row another one is taking.
- SQLite: the write transaction is `BEGIN IMMEDIATE` (one writer for the whole file), so the
  select-then-update cannot interleave with another writer.
A candidate is runnable when no deployment of its app is active and leased, and no *earlier*
candidate of its app exists: so even while worker A holds the app's oldest queued row locked
(invisible to B through SKIP LOCKED), worker B cannot take the app's second one. Deployments
of one app therefore run one at a time, in creation order.

Candidates are `queued` deployments (any worker: they need a build) and, for the replica
owner only, `deploying` ones without an owner: rollbacks and builds handed over for rollout.
Named leases (`leases` table) elect the replica owner among several workers.

Builds are shared fairly between workspaces (issue 11): a queued deployment is runnable only
while its workspace has fewer than `builds_per_workspace` builds leased, and among runnable
candidates the one whose workspace builds least right now goes first, then the oldest. One
workspace's slow builds therefore hold at most `builds_per_workspace` of the worker slots.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from slipway.domain.models import Deployment, utcnow
from slipway.domain.states import DeploymentStatus as S
from slipway.domain.states import sources_of
from slipway.store import mapping
from slipway.store.engine import Database
from slipway.store.models import DeploymentRow, LeaseRow
from slipway.store.repositories import rowcount

_ACTIVE = (S.BUILDING.value, S.DEPLOYING.value)


def _now() -> datetime:
    """Lease times keep their microseconds (`utcnow` is second precision, for the API)."""
    return datetime.now(UTC)


def _candidate(row: type[DeploymentRow], *, handovers: bool) -> object:
    queued = row.status == S.QUEUED.value
    if not handovers:
        return queued
    unowned = and_(row.status == S.DEPLOYING.value, row.lease_owner.is_(None))
    return or_(queued, unowned)


def _runnable_query(*, handovers: bool, builds_per_workspace: int) -> object:
    d = DeploymentRow
    busy, earlier, building = aliased(DeploymentRow), aliased(DeploymentRow), aliased(DeploymentRow)
    app_busy = exists().where(
        busy.app_id == d.app_id,
        busy.status.in_(_ACTIVE),
        busy.lease_owner.is_not(None),
    )
    # Every earlier candidate of the app counts, whoever may take it: order is per app.
    earlier_waits = exists().where(
        earlier.app_id == d.app_id,
        _candidate(earlier, handovers=True),  # type: ignore[arg-type]
        or_(
            earlier.created_at < d.created_at,
            and_(earlier.created_at == d.created_at, earlier.seq < d.seq),
        ),
    )
    workspace_builds = (
        select(func.count())
        .select_from(building)
        .where(
            building.workspace_id == d.workspace_id,
            building.status == S.BUILDING.value,
            building.lease_owner.is_not(None),
        )
        .scalar_subquery()
    )
    room = or_(d.status != S.QUEUED.value, workspace_builds < builds_per_workspace)
    return (
        select(d)
        .where(_candidate(d, handovers=handovers), ~app_busy, ~earlier_waits, room)  # type: ignore[arg-type]
        .order_by(workspace_builds, d.created_at, d.seq)
        .limit(1)
        .with_for_update(skip_locked=True, of=d)
    )


async def claim(
    db: Database,
    *,
    owner: str,
    lease_seconds: float,
    handovers: bool,
    builds_per_workspace: int = 1,
) -> Deployment | None:
    """Take the oldest runnable deployment: a queued one becomes `building` (started now),
    a handed-over `deploying` one keeps its status; either way under `owner`'s lease."""
    now = _now()
    async with db.write() as session:
        query = _runnable_query(handovers=handovers, builds_per_workspace=builds_per_workspace)
        row = await session.scalar(query)  # type: ignore[call-overload]
        if row is None:
            return None
        if row.status == S.QUEUED.value:
            row.status = S.BUILDING.value
            row.started_at = utcnow()
        row.lease_owner = owner
        row.lease_expires_at = now + timedelta(seconds=lease_seconds)
        await session.flush()
        return mapping.deployment(row)


async def acquire(db: Database, deployment_id: str, *, owner: str, lease_seconds: float) -> bool:
    """Take the lease of one active deployment that has no owner (a rollback run at once)."""
    stmt = (
        update(DeploymentRow)
        .where(
            DeploymentRow.id == deployment_id,
            DeploymentRow.status.in_(_ACTIVE),
            DeploymentRow.lease_owner.is_(None),
        )
        .values(lease_owner=owner, lease_expires_at=_now() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    async with db.write() as session:
        return rowcount(await session.execute(stmt)) == 1


async def renew(db: Database, deployment_id: str, *, owner: str, lease_seconds: float) -> bool:
    """Extend `owner`'s lease; False when the deployment is no longer active under it
    (cancelled, finished, or taken back by the reconciler)."""
    stmt = (
        update(DeploymentRow)
        .where(
            DeploymentRow.id == deployment_id,
            DeploymentRow.lease_owner == owner,
            DeploymentRow.status.in_(_ACTIVE),
        )
        .values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    async with db.write() as session:
        return rowcount(await session.execute(stmt)) == 1


async def release(db: Database, deployment_id: str, *, owner: str) -> bool:
    """Give the deployment up (a build handed over to the replica owner for its rollout)."""
    stmt = (
        update(DeploymentRow)
        .where(DeploymentRow.id == deployment_id, DeploymentRow.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    async with db.write() as session:
        return rowcount(await session.execute(stmt)) == 1


def _dead(now: datetime, other_than: str | None) -> Any:
    """Active, and its lease expired (or, with `other_than`, held by any other owner: on
    SQLite only one process exists, so a lease not its own is a dead process's). A
    `building` row without an owner was left by a Slipway from before leases."""
    d = DeploymentRow
    dead = and_(d.lease_owner.is_not(None), d.lease_expires_at < now)
    if other_than is not None:
        dead = and_(d.lease_owner.is_not(None), d.lease_owner != other_than)
    legacy = and_(d.lease_owner.is_(None), d.status == S.BUILDING.value)
    return and_(d.status.in_(_ACTIVE), or_(dead, legacy))


async def expired(db: Database, *, now: datetime, other_than: str | None) -> list[Deployment]:
    """Active deployments whose worker is dead (`_dead`), oldest first."""
    query = select(DeploymentRow).where(_dead(now, other_than)).order_by(DeploymentRow.seq)
    async with db.read() as session:
        return [mapping.deployment(row) for row in await session.scalars(query)]


async def requeue(
    db: Database, deployment_id: str, *, now: datetime, other_than: str | None
) -> bool:
    """Give a deployment whose worker is dead back to the queue, checked again in the same
    statement (compare-and-set: a live worker's claim is never undone): `building ->
    queued` (the build runs again), or a `deploying` one left without an owner, for the
    replica owner to claim and resume (`_candidate` with hand-overs)."""
    d = DeploymentRow
    where = (d.id == deployment_id, _dead(now, other_than))
    back_to_queue = (
        update(d)
        .where(*where, d.status.in_([s.value for s in sources_of(S.QUEUED)]))
        .values(status=S.QUEUED.value, started_at=None, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    hand_over = (
        update(d)
        .where(*where, d.status == S.DEPLOYING.value)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    async with db.write() as session:
        if rowcount(await session.execute(back_to_queue)) == 1:
            return True
        return rowcount(await session.execute(hand_over)) == 1


async def lead(db: Database, name: str, *, owner: str, lease_seconds: float) -> bool:
    """Take or renew the named lease; True while `owner` holds it."""
    now = _now()
    until = now + timedelta(seconds=lease_seconds)
    take = (
        update(LeaseRow)
        .where(LeaseRow.name == name, or_(LeaseRow.owner == owner, LeaseRow.expires_at < now))
        .values(owner=owner, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    try:
        async with db.write() as session:
            if rowcount(await session.execute(take)) == 1:
                return True
            held = await session.scalar(select(LeaseRow.name).where(LeaseRow.name == name))
            if held is not None:
                return False
            await session.execute(insert(LeaseRow).values(name=name, owner=owner, expires_at=until))
            return True
    except IntegrityError:  # another process inserted it first
        return False


async def resign(db: Database, name: str, *, owner: str) -> None:
    stmt = delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == owner)
    async with db.write() as session:
        await session.execute(stmt)


class LeaseMethods:
    """The lease questions as `SqlStore` methods (`slipway.ports.Store`)."""

    _db: Database

    @property
    def single_process(self) -> bool:
        """SQLite: one platform process per database file, so all roles share a process."""
        return self._db.is_sqlite

    async def claim_deployment(
        self, *, owner: str, lease_seconds: float, handovers: bool, builds_per_workspace: int = 1
    ) -> Deployment | None:
        return await claim(
            self._db,
            owner=owner,
            lease_seconds=lease_seconds,
            handovers=handovers,
            builds_per_workspace=builds_per_workspace,
        )

    async def acquire_deployment(
        self, deployment_id: str, *, owner: str, lease_seconds: float
    ) -> bool:
        return await acquire(self._db, deployment_id, owner=owner, lease_seconds=lease_seconds)

    async def renew_deployment(
        self, deployment_id: str, *, owner: str, lease_seconds: float
    ) -> bool:
        return await renew(self._db, deployment_id, owner=owner, lease_seconds=lease_seconds)

    async def release_deployment(self, deployment_id: str, *, owner: str) -> bool:
        return await release(self._db, deployment_id, owner=owner)

    async def expired_deployments(
        self, *, now: datetime, other_than: str | None = None
    ) -> list[Deployment]:
        return await expired(self._db, now=now, other_than=other_than)

    async def requeue_deployment(
        self, deployment_id: str, *, now: datetime, other_than: str | None = None
    ) -> bool:
        return await requeue(self._db, deployment_id, now=now, other_than=other_than)

    async def lead(self, name: str, *, owner: str, lease_seconds: float) -> bool:
        return await lead(self._db, name, owner=owner, lease_seconds=lease_seconds)

    async def resign(self, name: str, *, owner: str) -> None:
        await resign(self._db, name, owner=owner)
