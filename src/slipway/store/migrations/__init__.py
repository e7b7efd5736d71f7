"""Alembic migrations of the SQL store (run by `slipway.store.SqlStore.migrate`)."""
