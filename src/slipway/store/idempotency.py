"""`SqlIdempotencyRepo`: Idempotency-Key records of one workspace.

`claim` is an insert that the primary key `(workspace_id, key)` arbitrates: of two
concurrent first requests exactly one inserts; the other reads the winner's record. Expired
records of the workspace are deleted in the same transaction, so the table never holds
much more than a day of keys. Stored answers are sealed with the env cipher (an app's answer
holds its env values), so no row holds a secret in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from slipway.domain.models import IdempotencyRecord, StoredResponse
from slipway.store.models import IdempotencyRow
from slipway.store.repositories import ScopedRepo


class SqlIdempotencyRepo(ScopedRepo):
    def _record(self, row: IdempotencyRow) -> IdempotencyRecord:
        response = None
        if row.status is not None:
            body = self._db.cipher.open_bytes(row.body or b"")
            response = StoredResponse(row.status, row.content_type or "", body)
        ws, key = row.workspace_id, row.key
        return IdempotencyRecord(ws, key, row.fingerprint, row.created_at, response)

    def _mine(self, key: str) -> ColumnElement[bool]:
        return and_(IdempotencyRow.workspace_id == self._ws, IdempotencyRow.key == key)

    async def claim(
        self, record: IdempotencyRecord, *, expired_before: datetime
    ) -> IdempotencyRecord | None:
        self._check(record.workspace_id, "idempotency key")
        expired = delete(IdempotencyRow).where(
            IdempotencyRow.workspace_id == self._ws, IdempotencyRow.created_at < expired_before
        )
        row = IdempotencyRow(
            workspace_id=self._ws,
            key=record.key,
            fingerprint=record.fingerprint,
            created_at=record.created_at,
        )
        try:
            async with self._db.write() as session:
                await session.execute(expired)
                session.add(row)
            return None
        except IntegrityError:
            pass
        async with self._db.read() as session:
            found = await session.scalar(select(IdempotencyRow).where(self._mine(record.key)))
            return self._record(found) if found else None

    async def complete(self, key: str, response: StoredResponse) -> None:
        stmt = (
            update(IdempotencyRow)
            .where(self._mine(key))
            .values(
                status=response.status,
                content_type=response.content_type,
                body=self._db.cipher.seal_bytes(response.body),
            )
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as session:
            await session.execute(stmt)

    async def release(self, key: str) -> None:
        async with self._db.write() as session:
            await session.execute(delete(IdempotencyRow).where(self._mine(key)))
