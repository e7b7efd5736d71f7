"""The API served by uvicorn on loopback from a thread of the test process, with its own
event loop owning the store, so a synchronous client (schemathesis' requests) can call it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from tests.security.tenants import Tenant, h, make_tenant

from slipway.api import create_app
from slipway.api.limits import ApiLimits
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.services.platform import Platform, Settings
from slipway.store import SqlStore

T = TypeVar("T")


class LiveApi:
    def __init__(self, tmp: Path, git_url: str) -> None:
        self.tmp, self.git_url = tmp, git_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: uvicorn.Server | None = None
        self.store: SqlStore | None = None

    def start(self) -> tuple[str, Tenant]:
        self.thread.start()
        return self._run(self._start())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout=120)

    async def _start(self) -> tuple[str, Tenant]:
        self.store = SqlStore(f"sqlite:///{self.tmp / 'live.db'}")
        await self.store.migrate()
        platform = Platform(
            store=self.store,
            source=GitSource(self.tmp / "git-cache", local=LocalRepos(anywhere=True)),
            builder=h.null_builder(),
            runtime=h.null_runtime(),
            router=h.null_router(),
            settings=Settings(local_git=LocalRepos(anywhere=True)),
        )
        app = create_app(platform, limits=ApiLimits(rate_burst=0))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.serving = self.loop.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
            tenant = await make_tenant(self.store, c, name="st", git_url=self.git_url)
        return base, tenant

    async def _stop(self) -> None:
        assert self.server is not None and self.store is not None
        self.server.should_exit = True
        await self.serving
        await self.store.close()

    def stop(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
