"""Published replicas (store/published.py) on SQLite and PostgreSQL, and PostgreSQL NOTIFY
heard by `PgListener` (store/notify.py). Two stores on one database stand for the replica
owner and a router or API process."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.dbswitch import POSTGRES as PG_URL

from slipway.ports import PublishedReplica, RevisionSpec
from slipway.runtime.local import LocalRuntime
from slipway.services.serving.published import PublishedRuntime, ReplicaPublisher
from slipway.store import SqlStore
from slipway.store.notify import PgListener
from slipway.store.published import REPLICAS_CHANNEL

KEY = "ws1/app1/app1-00001"
OTHER = "ws1/app1/app1-00002"


def _past(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def _rows(*ports: int, not_ready: int = 0) -> list[PublishedReplica]:
    ready = [PublishedReplica(KEY, "127.0.0.1", p, True) for p in ports]
    return ready + [PublishedReplica(KEY, "", 0, False)] * not_ready


async def test_publish_replaces_an_owners_rows_of_one_revision(store: SqlStore) -> None:
    await store.publish_replicas(owner="w1", key=KEY, replicas=_rows(9001, 9002, not_ready=1))
    await store.publish_replicas(owner="w1", key=OTHER, replicas=[])
    await store.publish_replicas(owner="w1", key=KEY, replicas=_rows(9003))
    rows = await store.published_replicas(fresh_after=_past(60))
    assert [(r.revision_key, r.port, r.ready, r.owner) for r in rows] == [(KEY, 9003, True, "w1")]


async def test_stale_owners_are_skipped_then_purged_and_withdraw_removes_all(
    make_store,
) -> None:
    owner, reader = make_store(), make_store()
    await owner.migrate()
    await owner.publish_replicas(owner="dead", key=KEY, replicas=_rows(9001))
    await owner.publish_replicas(owner="live", key=OTHER, replicas=_rows(9002))
    await asyncio.sleep(0.3)
    await owner.heartbeat_replicas(owner="live", purge_before=_past(3600))
    fresh = await reader.published_replicas(fresh_after=_past(0.2))
    assert [r.owner for r in fresh] == ["live"]  # "dead" missed its heartbeat
    await owner.heartbeat_replicas(owner="live", purge_before=_past(0.2))
    everything = await reader.published_replicas(fresh_after=_past(3600))
    assert [r.owner for r in everything] == ["live"]  # "dead" is gone for good
    await owner.withdraw_replicas(owner="live")
    assert await reader.published_replicas(fresh_after=_past(3600)) == []


async def test_view_follows_the_published_state_and_reports_changes(make_store) -> None:
    owner, reader = make_store(), make_store()
    await owner.migrate()
    local = LocalRuntime()  # runs nothing here: every status is 0/0
    view = PublishedRuntime(local, reader, leading=lambda: False, lease_seconds=30)
    changed: list[str] = []
    view.on_change(changed.append)
    await owner.publish_replicas(owner="w1", key=KEY, replicas=_rows(9001, not_ready=1))
    await view.refresh()
    status = view.status(KEY)
    assert (status.ready, status.total, [b.port for b in status.backends]) == (1, 2, [9001])
    assert changed == [KEY]
    await view.refresh()
    assert changed == [KEY]  # nothing changed, nobody told
    await owner.publish_replicas(owner="w1", key=KEY, replicas=[])
    await view.refresh()
    assert view.status(KEY).total == 0 and changed == [KEY, KEY]
    await local.close()


async def test_publisher_writes_what_the_local_runtime_reports(store: SqlStore) -> None:
    local = LocalRuntime()
    publisher = ReplicaPublisher(store, local, owner="w1", lease_seconds=30)
    publisher.attach()
    await store.publish_replicas(owner="w1", key=KEY, replicas=_rows(9001))
    await publisher.publish(KEY)  # the runtime runs nothing of KEY (any more)
    assert await store.published_replicas(fresh_after=_past(60)) == []
    await local.close()


async def test_pg_listener_hears_replica_changes_and_custom_channels(make_store) -> None:
    store = make_store()
    await store.migrate()
    if store._db.is_sqlite:
        await store.publish_replicas(owner="w1", key=KEY, replicas=_rows(9001))
        await store.notify("slipway_logs", "dep1")  # a no-op, and no error
        return
    channel = f"t_{uuid.uuid4().hex[:12]}"
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    listener = PgListener(PG_URL)
    listener.subscribe(channel, lambda p: heard.put_nowait((channel, p)))
    listener.subscribe(REPLICAS_CHANNEL, lambda p: heard.put_nowait((REPLICAS_CHANNEL, p)))
    task = asyncio.get_running_loop().create_task(listener.run())
    try:
        for _ in range(100):  # until the listener is connected and hears a test ping
            await store.notify(channel, "ping")
            try:
                assert await asyncio.wait_for(heard.get(), 0.2) == (channel, "ping")
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the listener never heard a NOTIFY")
        await store.publish_replicas(owner="w1", key=KEY, replicas=_rows(9001))
        got = await asyncio.wait_for(_next_on(heard, REPLICAS_CHANNEL), 30)
        assert got == "app1"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _next_on(queue: asyncio.Queue[tuple[str, str]], channel: str) -> str:
    while True:
        name, payload = await queue.get()
        if name == channel:
            return payload


SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


async def _published_ports(store: SqlStore, count: int) -> list[tuple[int, str]]:
    """(port, network namespace) of every published replica, once there are `count`."""
    async with asyncio.timeout(60):
        while True:
            rows = await store.published_replicas(fresh_after=_past(60))
            if len(rows) == count and all(r.ready for r in rows):
                return sorted((r.port, r.netns) for r in rows)
            await asyncio.sleep(0.05)


async def test_publisher_follows_real_replicas_and_withdraws(
    store: SqlStore, tmp_path: Path
) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(SERVER)
    spec = RevisionSpec(
        key=KEY,
        workspace_id="ws1",
        app_id="app1",
        revision="app1-00001",
        app_dir=str(app_dir),
        start_command=f"{sys.executable} main.py",
        env={},
        health_check_path="/",
        app_serial=1,
    )
    local = LocalRuntime()
    publisher = ReplicaPublisher(store, local, owner="w1", lease_seconds=30)
    publisher.attach()
    task = asyncio.get_running_loop().create_task(publisher.run())
    try:
        await local.scale(spec, 2)
        await local.wait_ready(KEY, 2, timeout=60)
        ports = await _published_ports(store, 2)
        assert ports == sorted((b.port, b.netns) for b in local.status(KEY).backends)
        assert all(netns for _, netns in ports)
        await local.stop(KEY)
        assert await _published_ports(store, 0) == []
        await local.scale(spec, 1)
        await local.wait_ready(KEY, 1, timeout=60)
        await _published_ports(store, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await local.close()
    await publisher.close()
    assert await store.published_replicas(fresh_after=_past(60)) == []
