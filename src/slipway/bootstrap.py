"""The composition root: the only module that picks concrete backends.

`serve` runs the whole platform in one process and one event loop: the HTTP API (uvicorn),
the deploy worker, and the router (its own listening socket on asyncio Protocols). Stopping
it (SIGINT or SIGTERM) stops every replica it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from slipway.api import create_app
from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.router import RouterServer
from slipway.runtime.local import LocalRuntime
from slipway.services.pipeline import Worker, fail_interrupted
from slipway.services.platform import Platform, Settings
from slipway.services.reconcile import restore_all
from slipway.services.routing import RouteSyncer
from slipway.store import SqlStore

log = logging.getLogger("slipway")


@dataclass(frozen=True)
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 8000
    router_port: int = 8080
    base_domain: str = "localhost"
    allow_local_git: bool = False
    database_url: str | None = None
    registry: str = "local"
    health_timeout_seconds: float = 60.0
    drain_seconds: float = 5.0

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'slipway.db'}"


def config_from_env(data_dir: Path, **overrides: object) -> Config:
    """Settings from `SLIPWAY_*` variables, then from explicit (command-line) overrides."""
    env = os.environ
    values: dict[str, object] = {
        "database_url": env.get("SLIPWAY_DATABASE_URL") or None,
        "allow_local_git": env.get("SLIPWAY_ALLOW_LOCAL_GIT", "") == "1",
        "registry": env.get("SLIPWAY_REGISTRY_NAME", "local"),
        "health_timeout_seconds": float(env.get("SLIPWAY_HEALTH_TIMEOUT", "60")),
        "drain_seconds": float(env.get("SLIPWAY_DRAIN_SECONDS", "5")),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(data_dir=data_dir, **values)  # type: ignore[arg-type]


def open_store(config: Config) -> SqlStore:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlStore(config.db_url)


def build_platform(config: Config, store: SqlStore, router: RouterServer) -> Platform:
    data = config.data_dir.resolve()
    source = GitSource(data / "git", allow_local=config.allow_local_git)
    return Platform(
        store=store,
        source=source,
        builder=LocalBuilder(data, source, registry=config.registry),
        runtime=LocalRuntime(host="127.0.0.1"),
        router=router,
        settings=Settings(
            base_domain=config.base_domain,
            router_port=config.router_port,
            allow_local_git=config.allow_local_git,
            health_timeout_seconds=config.health_timeout_seconds,
            drain_seconds=config.drain_seconds,
        ),
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` below owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> None:
    store = open_store(config)
    await store.migrate()
    router = RouterServer()
    platform = build_platform(config, store, router)
    syncer = RouteSyncer(platform)
    syncer.attach()
    worker = Worker(platform)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api = _Server(
        uvicorn.Config(
            create_app(platform),
            host=config.host,
            port=config.api_port,
            log_level="warning",
            lifespan="off",
        )
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        await router.start(config.host, config.router_port)
        await fail_interrupted(platform)
        await restore_all(platform)
        tasks = [
            loop.create_task(worker.run(), name="worker"),
            loop.create_task(api.serve(), name="api"),
        ]
        log.warning(
            "Slipway is up: API http://%s:%d/api/v1, router http://*.%s:%d",
            config.host,
            config.api_port,
            config.base_domain,
            config.router_port,
        )
        if ready is not None:
            ready.set()
        done_task = loop.create_task(stop.wait())
        await asyncio.wait([done_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
        done_task.cancel()
    finally:
        api.should_exit = True
        await worker.close()
        for task in tasks:
            if task.get_name() == "worker":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await syncer.close()
        await platform.close()
        await platform.runtime.close()
        await router.close()
        await store.close()
