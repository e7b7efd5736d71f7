"""The async engine and the two kinds of transaction the repositories use.

`Database.read()` opens a plain transaction. `Database.write()` opens one that may write. On
PostgreSQL both are ordinary transactions (row locks and unique constraints do the work). On
SQLite, a file has one writer at a time, so:
- every connection runs in WAL mode (readers never block the writer), with foreign keys on and
  a busy timeout for writers in other processes (the CLI next to a running server);
- the driver's implicit transactions are switched off and we emit `BEGIN` ourselves: `BEGIN
  IMMEDIATE` for writes, so a write transaction takes the lock up front instead of failing
  half-way when another writer got there first;
- writers of this process queue on an `asyncio.Lock`, so concurrent tasks never see
  "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from slipway.store.sealing import EnvCipher, process_cipher

_BEGIN_OPTION = "slipway_sqlite_begin"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def normalize_url(url: str) -> URL:
    """Map the URLs users write to the async drivers we ship (`sqlite:` → aiosqlite, ...)."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed.set(drivername=driver)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Turn off the driver's own transaction handling; `_sqlite_on_begin` emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """WAL is kept in the file, so only the first connections to a fresh database switch
    it. The switch takes an exclusive lock, and SQLite answers "database is locked" at once,
    without its busy timeout, while another connection holds a shared one: several processes
    starting together on a fresh file retry for up to 30 s."""
    deadline = time.monotonic() + 30
    delay = 0.01
    while True:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, adapted
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # start-up only: the connection is not in use yet
        delay = min(delay * 2, 0.2)


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_BEGIN_OPTION) == "immediate":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class Database:
    """One engine plus session factories for reads and writes, and the cipher of env values
    (`sealing.py`) that the repositories' mapping uses."""

    def __init__(
        self,
        url: str,
        *,
        connect_args: Mapping[str, Any] | None = None,
        cipher: EnvCipher | None = None,
    ) -> None:
        self.cipher = cipher or process_cipher()
        parsed = normalize_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(
            parsed, connect_args=dict(connect_args or {}), pool_pre_ping=not self.is_sqlite
        )
        writer = self.engine
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
            writer = self.engine.execution_options(**{_BEGIN_OPTION: "immediate"})
        self._writer = writer
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writes = async_sessionmaker(writer, expire_on_commit=False)
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _serialized(self) -> AsyncIterator[None]:
        if not self.is_sqlite:
            yield
            return
        async with self._write_lock:
            yield

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (nothing stops a write, but none is expected)."""
        async with self._reads.begin() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on exit, rolled back on an exception."""
        async with self._serialized(), self._writes.begin() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A raw write transaction (`AsyncConnection`), for migrations."""
        async with self._serialized(), self._writer.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()
