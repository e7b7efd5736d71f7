"""The handle every use case receives: the ports, the settings, and in-process signals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slipway.domain.autoscaling import Decision
from slipway.domain.domains import covers
from slipway.domain.giturls import NO_LOCAL, LocalRepos
from slipway.domain.routes import app_host, tag_host
from slipway.ports import (
    Builder,
    CertificateAuthority,
    CertificateFiles,
    DnsCheck,
    Router,
    Runtime,
    Source,
    Store,
)
from slipway.services.platform.draining import Retirements
from slipway.services.platform.leasing import LeaseSettings
from slipway.services.platform.loghub import LogHub
from slipway.services.platform.transitions import Transitions


@dataclass(frozen=True)
class AutoscaleState:
    """The autoscaler's latest look at one app (in the process that runs its replicas)."""

    decision: Decision
    ready: int  # healthy replicas of the revisions with traffic
    concurrency: dict[str, float]  # revision -> requests in flight, averaged over a tick


@dataclass(frozen=True)
class Activation:
    """The latest start of one app's revision on demand (`serving/activator.py`)."""

    revision: str
    at: datetime
    failure: str | None = None  # why it could not start, with its last lines of output
    # Seconds of each step, in order: "scheduled" (replicas asked of the runtime), "started"
    # (a replica healthy), "routed" (the router has it): what a cold start is made of.
    phases: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class CertificateTools:
    """What custom domains' certificates need (issue 16; bootstrap makes them)."""

    authority: CertificateAuthority  # ACME
    dns: DnsCheck  # does a hostname point here yet?
    files: CertificateFiles  # the data dir's certificate files


@dataclass(frozen=True)
class Settings:
    base_domain: str = "localhost"
    router_port: int = 8080
    router_scheme: str = "http"
    local_git: LocalRepos = NO_LOCAL
    health_timeout_seconds: float = 60.0
    drain_seconds: float = 30.0  # the longest wait for a drained revision's in-flight requests
    release_timeout_seconds: float = 600.0
    max_queued_per_workspace: int = 20  # deployments waiting at once; one more is 429
    builds_per_workspace: int = 1  # builds of one workspace at once (store/leases.py)
    max_resolving_per_workspace: int = 2  # git resolutions at once (POST /deploy); then 429
    # HTTPS (issue 16): the router's HTTPS port (None: no HTTPS), the names the operator's
    # certificate covers (`--tls-cert`; `*.` patterns), whether custom domains may be
    # wildcards, and the addresses an A/AAAA record of a custom domain may point at.
    https_port: int | None = None
    tls_names: tuple[str, ...] = ()
    allow_wildcard_domains: bool = False
    public_addresses: tuple[str, ...] = ()

    def default_certificate_covers(self, host: str) -> bool:
        return self.https_port is not None and any(covers(n, host) for n in self.tls_names)


@dataclass
class Platform:
    store: Store
    source: Source
    builder: Builder
    runtime: Runtime
    router: Router
    settings: Settings = field(default_factory=Settings)
    # This process's identity and lease length for the deployments it runs, and whether it
    # runs replicas now (holds the `replicas` lease; always, with one process): bootstrap's.
    leases: LeaseSettings = field(default_factory=LeaseSettings)
    owns_replicas: Callable[[], bool] = field(default=lambda: True)
    logs: LogHub = field(default_factory=LogHub)
    # Set when a deployment is queued or cancelled, so the worker looks at once instead of
    # at its next poll. The worker never relies on it: it also polls the store.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Revisions being drained and stopped (by the reconciler); condition times.
    retirements: Retirements = field(default_factory=Retirements)
    autoscaling: dict[str, AutoscaleState] = field(default_factory=dict)  # app id -> latest
    activations: dict[str, Activation] = field(default_factory=dict)  # app id -> latest
    # Apps deleted through this process: a route sync that read one before it went (its
    # replicas' readiness events while they drain) must not route its hosts again.
    deleted_apps: set[str] = field(default_factory=set)
    # Other router processes' load counters (serving/loadshare.py): process -> (revision key
    # -> (concurrency-seconds, requests), monotonic time last heard).
    remote_loads: dict[str, tuple[dict[str, tuple[float, int]], float]] = field(
        default_factory=dict
    )
    transitions: Transitions = field(default_factory=Transitions)
    certificates: CertificateTools | None = None
    # Set when a domain is added or changed here, so the certificate loop looks at once.
    domains_changed: asyncio.Event = field(default_factory=asyncio.Event)
    resolving: dict[str, int] = field(default_factory=dict)  # workspace -> git resolutions now
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _app_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background (draining old replicas, say); `close` awaits it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def app_lock(self, app_id: str) -> asyncio.Lock:
        """Serializes changes to one app's replicas and routes within this process."""
        return self._app_locks.setdefault(app_id, asyncio.Lock())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.retirements.close()

    def app_url(self, app_name: str, workspace_name: str) -> str:
        return self.host_url(app_host(app_name, workspace_name, self.settings.base_domain))

    def tag_url(self, tag: str, app_name: str, workspace_name: str) -> str:
        s = self.settings
        return self.host_url(tag_host(tag, app_name, workspace_name, s.base_domain))

    def host_url(self, host: str, *, certified: bool = False) -> str:
        """The URL of a host the router serves: HTTPS when it has a certificate (its own,
        `certified`, or the operator's), else plain HTTP."""
        s = self.settings
        if s.https_port is not None and (certified or s.default_certificate_covers(host)):
            return f"https://{host}" + ("" if s.https_port == 443 else f":{s.https_port}")
        return f"{s.router_scheme}://{host}" + ("" if s.router_port == 80 else f":{s.router_port}")
