"""Env values at rest: sealed in `apps.env` / `revisions.env` on SQLite and PostgreSQL.

The raw rows (and, on SQLite, the database files themselves) never contain an env value;
rows written before migration 0003 are still read, and sealed by the next `migrate()`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import store_factories as f
from cryptography.fernet import Fernet
from sqlalchemy import text

from slipway.store import SqlStore
from slipway.store.migrate import upgrade
from slipway.store.sealing import PREFIX, EnvCipher, SealError, load_cipher

SECRET = "hunter2-sk-live-5f0c1e9a"
ENV = {"API_TOKEN": SECRET, "DEBUG": "1"}


async def _raw_envs(store: SqlStore) -> list[str]:
    async with store._db.read() as session:
        apps = (await session.execute(text("SELECT env FROM apps"))).scalars().all()
        revs = (await session.execute(text("SELECT env FROM revisions"))).scalars().all()
    return [str(v) for v in [*apps, *revs]]


async def test_raw_rows_hold_no_env_value(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws, env=ENV)
    await f.revision(store, await f.deployment(store, a), env=ENV)
    raw = await _raw_envs(store)
    assert len(raw) == 2
    for value in raw:
        assert value.startswith(PREFIX)
        assert SECRET not in value
        assert "API_TOKEN" not in value  # the names are sealed too
    scoped = store.scoped(ws.id)
    assert (await scoped.apps.get(a.id)).env == ENV  # type: ignore[union-attr]
    assert (await scoped.revisions.list(a.id))[0].env == ENV


async def test_updates_are_sealed_too(store: SqlStore) -> None:
    ws = await f.workspace(store)
    a = await f.app(store, ws)
    a.env = {"NEW_SECRET": SECRET}
    await store.scoped(ws.id).apps.update(a)
    assert all(SECRET not in v for v in await _raw_envs(store))
    assert (await store.scoped(ws.id).apps.get(a.id)).env == {"NEW_SECRET": SECRET}  # type: ignore[union-attr]


async def test_the_sqlite_files_hold_no_env_value(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'slipway.db'}")
    try:
        await store.migrate()
        ws = await f.workspace(store)
        a = await f.app(store, ws, env=ENV)
        await f.revision(store, await f.deployment(store, a), env=ENV)
    finally:
        await store.close()
    files = list(tmp_path.glob("slipway.db*"))
    assert files
    for path in files:
        assert SECRET.encode() not in path.read_bytes()


async def _legacy_rows(store: SqlStore) -> tuple[str, str]:
    """A workspace and app written at migration 0002, env in plain JSON."""
    async with store._db.write_connection() as conn:
        await conn.run_sync(upgrade, "0002")
        await conn.execute(
            text("INSERT INTO workspaces (id, name, created_at) VALUES ('ws_old', 'old', :t)"),
            {"t": f.T0.replace(tzinfo=None) if store._db.is_sqlite else f.T0},
        )
        await conn.execute(
            text(
                "INSERT INTO apps (id, workspace_id, name, git_url, git_branch, buildpack, env,"
                " min_replicas, replicas, next_revision, created_at, updated_at) VALUES"
                " ('app_old', 'ws_old', 'old', 'https://example.com/o.git', 'main', 'auto',"
                " :env, 1, 1, 1, :t, :t)"
            ),
            {
                "env": json.dumps(ENV),
                "t": f.T0.replace(tzinfo=None) if store._db.is_sqlite else f.T0,
            },
        )
    return "ws_old", "app_old"


async def test_plaintext_rows_from_before_0003_are_read_and_sealed(make_store: Any) -> None:
    store: SqlStore = make_store()
    ws_id, app_id = await _legacy_rows(store)
    await store.migrate()
    [raw] = await _raw_envs(store)
    assert raw.startswith(PREFIX)
    assert SECRET not in raw
    got = await store.scoped(ws_id).apps.get(app_id)
    assert got is not None
    assert got.env == ENV


async def test_a_wrong_key_is_an_error_that_names_no_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'slipway.db'}"
    writer = SqlStore(url, cipher=EnvCipher([Fernet.generate_key()]))
    reader = SqlStore(url, cipher=EnvCipher([Fernet.generate_key()]))
    try:
        await writer.migrate()
        ws = await f.workspace(writer)
        a = await f.app(writer, ws, env=ENV)
        with pytest.raises(SealError) as caught:
            await reader.scoped(ws.id).apps.get(a.id)
        assert SECRET not in str(caught.value)
        assert "SLIPWAY_SECRET_KEY" in str(caught.value)
    finally:
        await writer.close()
        await reader.close()


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    first = load_cipher(setting=None, key_file=key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = load_cipher(setting=None, key_file=key_file)
    assert again.open(first.seal(ENV)) == ENV
    assert list(key_file.parent.iterdir()) == [key_file]  # no temporary file left behind


def test_the_setting_wins_over_the_key_file_and_rotates(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_old = load_cipher(setting=old, key_file=tmp_path / "k").seal(ENV)
    rotated = load_cipher(setting=f"{new},{old}", key_file=tmp_path / "k")
    assert not (tmp_path / "k").exists()
    assert rotated.open(sealed_old) == ENV
    assert EnvCipher.from_setting(new).open(rotated.seal(ENV)) == ENV


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SealError) as caught:
        EnvCipher.from_setting("not-a-fernet-key-but-a-secret")
    assert "not-a-fernet-key-but-a-secret" not in str(caught.value)
