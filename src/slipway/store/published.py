"""Published replica state: what the replica owner runs, for processes that run none.

The process holding the `replicas` lease writes one `replicas` row per replica of every
revision it runs (`publish`, the whole set of one revision at once, on each change of its
ready replicas) and refreshes `heartbeat_at` of all its rows every lease renewal
(`heartbeat`); rows of an owner whose heartbeat is older than a lease are a dead process's
and readers skip them (`heartbeat` also deletes rows far older than that). Routers and API
processes read the fresh rows (`published`).

On PostgreSQL every write also sends `NOTIFY slipway_replicas` (payload: the app id) in the
same transaction, so listeners hear of it exactly when it is committed (`store/notify.py`);
`notify` sends any other channel (build logs). On SQLite both are no-ops: one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from slipway.domain.revisionkeys import parse_revision_key
from slipway.ports import PublishedReplica
from slipway.store.engine import Database
from slipway.store.models import ReplicaRow

REPLICAS_CHANNEL = "slipway_replicas"


def _now() -> datetime:
    return datetime.now(UTC)


async def _notify(db: Database, session: AsyncSession, channel: str, payload: str) -> None:
    if not db.is_sqlite:
        await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


async def publish(
    db: Database, *, owner: str, key: str, replicas: Sequence[PublishedReplica]
) -> None:
    """Replace `owner`'s rows of revision `key` with `replicas` (none: it runs none)."""
    parsed = parse_revision_key(key)
    if parsed is None:
        raise ValueError(f"not a revision key: {key!r}")
    workspace_id, app_id, _ = parsed
    now = _now()
    rows = [
        {
            "owner": owner,
            "revision_key": key,
            "slot": slot,
            "workspace_id": workspace_id,
            "app_id": app_id,
            "host": r.host,
            "port": r.port,
            "netns": r.netns,
            "ready": r.ready,
            "heartbeat_at": now,
        }
        for slot, r in enumerate(replicas)
    ]
    mine = (ReplicaRow.owner == owner, ReplicaRow.revision_key == key)
    async with db.write() as session:
        await session.execute(delete(ReplicaRow).where(*mine))
        if rows:
            await session.execute(insert(ReplicaRow), rows)
        await _notify(db, session, REPLICAS_CHANNEL, app_id)


async def heartbeat(db: Database, *, owner: str, purge_before: datetime) -> None:
    """Keep `owner`'s rows fresh; delete every owner's rows older than `purge_before`."""
    async with db.write() as session:
        await session.execute(
            update(ReplicaRow)
            .where(ReplicaRow.owner == owner)
            .values(heartbeat_at=_now())
            .execution_options(synchronize_session=False)
        )
        await session.execute(delete(ReplicaRow).where(ReplicaRow.heartbeat_at < purge_before))


async def withdraw(db: Database, *, owner: str) -> None:
    """`owner` runs no replica any more (it stopped them all)."""
    async with db.write() as session:
        await session.execute(delete(ReplicaRow).where(ReplicaRow.owner == owner))
        await _notify(db, session, REPLICAS_CHANNEL, "")


async def published(db: Database, *, fresh_after: datetime) -> list[PublishedReplica]:
    """Every replica whose owner's heartbeat is newer than `fresh_after`."""
    query = (
        select(ReplicaRow)
        .where(ReplicaRow.heartbeat_at > fresh_after)
        .order_by(ReplicaRow.revision_key, ReplicaRow.owner, ReplicaRow.slot)
    )
    async with db.read() as session:
        return [
            PublishedReplica(
                revision_key=row.revision_key,
                host=row.host,
                port=row.port,
                ready=row.ready,
                netns=row.netns,
                owner=row.owner,
            )
            for row in await session.scalars(query)
        ]


async def notify(db: Database, channel: str, payload: str) -> None:
    if not db.is_sqlite:
        async with db.write() as session:
            await _notify(db, session, channel, payload)


class ReplicaMethods:
    """The published-replica questions as `SqlStore` methods (`slipway.ports.Store`)."""

    _db: Database

    async def publish_replicas(
        self, *, owner: str, key: str, replicas: Sequence[PublishedReplica]
    ) -> None:
        await publish(self._db, owner=owner, key=key, replicas=replicas)

    async def heartbeat_replicas(self, *, owner: str, purge_before: datetime) -> None:
        await heartbeat(self._db, owner=owner, purge_before=purge_before)

    async def withdraw_replicas(self, *, owner: str) -> None:
        await withdraw(self._db, owner=owner)

    async def published_replicas(self, *, fresh_after: datetime) -> list[PublishedReplica]:
        return await published(self._db, fresh_after=fresh_after)

    async def notify(self, channel: str, payload: str) -> None:
        await notify(self._db, channel, payload)
