"""The SQL store: `SqlStore` implements `slipway.ports.Store` on SQLite or PostgreSQL.

Layout: `engine` (URLs, connections, SQLite write serialization), `models` (tables),
`mapping` (rows <-> domain dataclasses), `repositories` and `deployments` (the scoped
repositories), `sqlstore` (the store and its cross-workspace queries), `migrate` and
`migrations/` (Alembic, run by `SqlStore.migrate()`).
"""

from slipway.store.sqlstore import ScopedSqlStore, SqlStore

__all__ = ["ScopedSqlStore", "SqlStore"]
