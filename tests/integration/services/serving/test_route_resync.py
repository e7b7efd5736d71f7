"""A router-only process learns its routes from the store; it must also forget them when
another process deletes the app (the deleting process cannot reach its route table)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.security.tenants import make_tenant
from tests.support.world import close_world, make_world

from slipway.domain.models import TrafficSplit
from slipway.services.resources.apps import delete_app
from slipway.services.serving.reconcile import resync_routes, sync_routes


async def wait_until(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_resync_serves_apps_with_traffic_and_forgets_deleted_ones(
    store, client, platform, make_repo
) -> None:
    repo = make_repo("app")
    repo.commit({"main.py": "print('hi')\n"}, "first")
    tenant = await make_tenant(store, client, name="alpha", git_url=repo.url)
    resync = asyncio.create_task(resync_routes(platform))
    try:
        await wait_until(lambda: tenant.app_id in platform.router.routes)
        hosts = {r.host for r in platform.router.routes[tenant.app_id]}
        assert f"alpha-app.alpha.{platform.settings.base_domain}" in hosts

        # Deleted by another process: straight in the store, no in-process router call.
        assert await store.scoped(tenant.ws_id).apps.delete(tenant.app_id)
        await wait_until(lambda: tenant.app_id in platform.router.removed)
    finally:
        resync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await resync


async def test_a_route_sync_that_read_the_app_before_its_deletion_does_not_route_it_again(
    tmp_path,
) -> None:
    """Seen in a CLI session: a deleted app's host answered 503 for ever. Its replicas'
    readiness events, while they drained, started route syncs that had read the app before
    its rows went; they pushed its routes (without backends) after `forget_app` removed
    them."""
    world = await make_world(tmp_path)
    try:
        await world.revision()
        await world.traffic([TrafficSplit("web-00001", 100)])
        stale = await world.fresh_app()
        await delete_app(world.platform, world.workspace.id, world.app.id)
        assert world.app.id not in world.router.routes
        await sync_routes(world.platform, world.workspace, stale)  # read before, pushed after
        assert world.app.id not in world.router.routes
    finally:
        await close_world(world)
