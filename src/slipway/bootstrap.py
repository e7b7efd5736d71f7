"""The composition root: the only module that picks concrete backends.

`serve` runs the roles of `Config.roles` in one process and one event loop: `api` (the HTTP
API on uvicorn), `worker` (claims and builds deployments; the worker holding the
`replicas` lease also runs every replica and rollout), `router` (its own listening socket on
asyncio Protocols). `slipway up` is all three on SQLite. Every process also runs the
recovery sweep (`services/deploy/recovery.py`), so no deployment outlives its worker's lease.
On PostgreSQL (several processes) `_cluster` adds published replica state and LISTEN
(`services/serving/published.py`, `store/notify.py`), so routers and API processes without the
replicas see them.
Stopping it (SIGINT or SIGTERM) stops every replica it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import signal
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from slipway.api import create_app
from slipway.api.connections import HEAD_TIMEOUT_SECONDS, HeaderLimit, with_head_timeout
from slipway.api.limits import ApiLimits, trusted_proxies
from slipway.builder.cluster import ClusterBuilder
from slipway.builder.local import LocalBuilder
from slipway.builder.registry import Registry
from slipway.builder.source import GitSource
from slipway.certs.authority import AcmeAuthority
from slipway.certs.dns import ResolverDnsCheck
from slipway.certs.files import CertificateDir
from slipway.domain.giturls import LocalRepos
from slipway.ports import Builder, Router, Runtime
from slipway.router import RouterServer
from slipway.router.limits import EdgeLimits
from slipway.router.remote import RemoteRouter, RouterChildFailed
from slipway.router.tls import Certificates, certificate_names
from slipway.runtime.kubernetes import (
    ClusterSettings,
    GatewayRoutes,
    KnativeApps,
    KnativeRoutes,
    KnativeRuntime,
    KubeApi,
    KubernetesRuntime,
    knative_installed,
    load_connection,
)
from slipway.runtime.local import LocalRuntime
from slipway.runtime.local.logs import AppLogFiles
from slipway.sandbox import DEFAULT_UID_BASE, SandboxHost
from slipway.services.deploy.pipeline import Worker
from slipway.services.deploy.recovery import LeaseSweeper
from slipway.services.platform import CertificateTools, Platform, Settings, leasing
from slipway.services.platform.leasing import Leadership, LeaseSettings
from slipway.services.platform.loghub import LOGS_CHANNEL
from slipway.services.serving.activator import Activator
from slipway.services.serving.autoscaler import Autoscaler
from slipway.services.serving.certificates import CertificateLoop
from slipway.services.serving.loadshare import LOAD_CHANNEL, received, send_loads
from slipway.services.serving.published import PublishedRuntime, ReplicaPublisher
from slipway.services.serving.reconcile import (
    RECONCILE_CHANNEL,
    RouteSyncer,
    reconcile_soon,
    resync_routes,
)
from slipway.store import SqlStore
from slipway.store.notify import PgListener
from slipway.store.published import REPLICAS_CHANNEL
from slipway.store.sealing import KEY_ENV, load_cipher

log = logging.getLogger("slipway")

ROLES = frozenset({"api", "worker", "router"})
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
_CORES = max(2, os.cpu_count() or 2)


def parse_roles(values: Iterable[str]) -> frozenset[str]:
    """`--role` values (repeatable, or comma lists); `all` is every role. ValueError on an
    unknown one."""
    roles: set[str] = set()
    for value in values:
        for role in (part.strip() for part in value.split(",")):
            if role == "all":
                roles |= ROLES
            elif role in ROLES:
                roles.add(role)
            else:
                raise ValueError(f"unknown role {role!r}: use api, worker, router or all")
    return frozenset(roles) or ROLES


@dataclass(frozen=True)
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    api_port: int = 8000
    router_port: int = 8080
    base_domain: str = "localhost"
    allow_local_git: bool = False  # any local path (outside the data directory)
    local_git_roots: tuple[str, ...] = ()  # local repositories under these directories
    database_url: str | None = None
    registry: str = "local"
    health_timeout_seconds: float = 60.0
    drain_seconds: float = 30.0
    roles: frozenset[str] = ROLES
    lease_seconds: float = leasing.LEASE_SECONDS
    sandbox_uid_base: int = DEFAULT_UID_BASE
    git_deadline_seconds: float = 10.0  # resolving a commit for POST /deploy
    worker_concurrency: int = _CORES  # deployments run at once by this worker
    builds_per_workspace: int = 1  # builds of one workspace at once
    autoscale_stable_seconds: float = 60.0  # the autoscaler's windows (docs/decisions.md)
    autoscale_panic_seconds: float = 6.0
    scale_to_zero_seconds: float = 60.0  # idle this long, an app with minReplicas 0 stops
    access_log: bool = False  # one line per API request (uvicorn's)
    # HTTPS (issue 16): the router's HTTPS port (None: none; 0: any free one), the
    # operator's default certificate (a wildcard for the base domain, say), ACME for custom
    # domains, and what their DNS may point at.
    https_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    acme_directory: str = LETS_ENCRYPT
    acme_email: str | None = None
    acme_ca_bundle: str | None = None  # CAs to trust for the ACME directory's own HTTPS
    dns_resolvers: tuple[str, ...] = ()  # "ip[:port]"; none: the system's
    public_addresses: tuple[str, ...] = ()  # what a custom domain's A/AAAA may point at
    allow_wildcard_domains: bool = False
    # Where revisions run (issue 17): "local" (sandboxed processes on this machine) or
    # "kubernetes" (a cluster: docs/kubernetes.md), and the cluster's settings.
    runtime: str = "local"
    kubeconfig: str | None = None  # None: the service account of the pod Slipway runs in
    kube_context: str | None = None
    namespace_prefix: str = "slipway-"
    gateway: str = "slipway-gateway/slipway"  # the Gateway the HTTPRoutes attach to: ns/name
    kube_mode: str = "auto"  # knative when the cluster serves it, else plain; or either
    ingress_namespaces: tuple[str, ...] = ()  # may reach the pods; default: the gateway's

    @property
    def local_git(self) -> LocalRepos:
        """Local repositories: as the operator allows them, never inside the data dir."""
        return LocalRepos(
            roots=tuple(os.path.realpath(r) for r in self.local_git_roots),
            anywhere=self.allow_local_git,
            forbidden=(str(self.data_dir.resolve()),),
        )

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
        "local_git_roots": tuple(
            r for r in env.get("SLIPWAY_LOCAL_GIT_ROOTS", "").split(os.pathsep) if r.strip()
        ),
        "sandbox_uid_base": int(env.get("SLIPWAY_SANDBOX_UID_BASE", str(DEFAULT_UID_BASE))),
        "git_deadline_seconds": float(env.get("SLIPWAY_GIT_DEADLINE", "10")),
        "worker_concurrency": int(env.get("SLIPWAY_WORKER_CONCURRENCY") or _CORES),
        "builds_per_workspace": int(env.get("SLIPWAY_BUILDS_PER_WORKSPACE", "1")),
        "registry": env.get("SLIPWAY_REGISTRY_NAME", "local"),
        "health_timeout_seconds": float(env.get("SLIPWAY_HEALTH_TIMEOUT", "60")),
        "drain_seconds": float(env.get("SLIPWAY_DRAIN_SECONDS", "30")),
        "lease_seconds": float(env.get("SLIPWAY_LEASE_SECONDS", str(leasing.LEASE_SECONDS))),
        "autoscale_stable_seconds": float(env.get("SLIPWAY_AUTOSCALE_STABLE_SECONDS", "60")),
        "autoscale_panic_seconds": float(env.get("SLIPWAY_AUTOSCALE_PANIC_SECONDS", "6")),
        "scale_to_zero_seconds": float(env.get("SLIPWAY_SCALE_TO_ZERO_SECONDS", "60")),
        "tls_cert": env.get("SLIPWAY_TLS_CERT") or None,
        "tls_key": env.get("SLIPWAY_TLS_KEY") or None,
        "acme_directory": env.get("SLIPWAY_ACME_DIRECTORY") or LETS_ENCRYPT,
        "acme_email": env.get("SLIPWAY_ACME_EMAIL") or None,
        "acme_ca_bundle": env.get("SLIPWAY_ACME_CA_BUNDLE") or None,
        "dns_resolvers": _listed(env.get("SLIPWAY_DNS_RESOLVERS", "")),
        "public_addresses": _listed(env.get("SLIPWAY_PUBLIC_ADDRESSES", "")),
        "allow_wildcard_domains": env.get("SLIPWAY_ALLOW_WILDCARD_DOMAINS", "") == "1",
        "runtime": env.get("SLIPWAY_RUNTIME") or "local",
        "kubeconfig": env.get("SLIPWAY_KUBECONFIG") or None,
        "kube_context": env.get("SLIPWAY_KUBE_CONTEXT") or None,
        "namespace_prefix": env.get("SLIPWAY_NAMESPACE_PREFIX") or "slipway-",
        "gateway": env.get("SLIPWAY_GATEWAY") or "slipway-gateway/slipway",
        "ingress_namespaces": _listed(env.get("SLIPWAY_INGRESS_NAMESPACES", "")),
        "kube_mode": env.get("SLIPWAY_KUBERNETES_MODE") or "auto",
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(data_dir=data_dir, **values)  # type: ignore[arg-type]


def _listed(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_https_port(value: str | None, default: int) -> int | None:
    """`--https-port` / `SLIPWAY_HTTPS_PORT`: a port, 0 (any free one), or `off`; unset:
    `default`. ValueError otherwise."""
    if value is None or value == "":
        return default
    if value.lower() == "off":
        return None
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"{value} is not a port")
    return port


def secure_data_dir(data_dir: Path) -> None:
    """The data directory is private: 0700, its files 0600 and directories 0700 at its top
    level (fixed at every start for a directory made by an older Slipway). From here on this
    process creates files 0600 and directories 0700 (umask 077); what a sandbox must read is
    handed to it by bind mounts (images: root's, 0644), never by path."""
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for entry in data_dir.iterdir():
        if entry.is_symlink():
            continue
        entry.chmod(0o700 if entry.is_dir() else 0o600)


def open_store(config: Config) -> SqlStore:
    """The store, sealing env values with `SLIPWAY_SECRET_KEY` or else the data directory's
    0600 key file (outside the database; no sandboxed app sees the data directory)."""
    secure_data_dir(config.data_dir)
    cipher = load_cipher(
        setting=os.environ.get(KEY_ENV) or None, key_file=config.data_dir / "secret.key"
    )
    return SqlStore(config.db_url, cipher=cipher)


def make_router(config: Config) -> RouterServer | RemoteRouter:
    """The data plane. A process with the router role and another one (`slipway up`) runs
    the router as a process of its own (`router/remote.py`), so that a flood at the edge
    cannot take the API's or the worker's file descriptors or CPU; `serve --role router`
    is such a process already and serves in it. Without the role it is an unused table."""
    trusted = trusted_proxies(os.environ)
    if "router" in config.roles and len(config.roles) > 1:
        return RemoteRouter(
            host=config.host,
            port=config.router_port,
            trusted=trusted,
            https_port=config.https_port,
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
        )
    serves = "router" in config.roles and config.tls_cert
    certificates = Certificates(config.tls_cert, config.tls_key) if serves else None
    return RouterServer(limits=EdgeLimits.from_env(), trusted=trusted, certificates=certificates)


@dataclass
class Cluster:
    """The Kubernetes runtime and its routes, over one API client (`--runtime kubernetes`)."""

    api: KubeApi
    runtime: KubernetesRuntime
    routes: GatewayRoutes
    mode: str  # "knative" or "plain"
    registry: Registry  # where builds push and the cluster pulls (`ClusterSettings.registry`)


def cluster_registry() -> Registry:
    """`SLIPWAY_REGISTRY`, which the Kubernetes runtime needs; ValueError without it."""
    value = os.environ.get("SLIPWAY_REGISTRY", "").strip()
    if not value:
        raise ValueError(
            "the Kubernetes runtime needs SLIPWAY_REGISTRY: the registry the builds push "
            "images to and the cluster pulls them from"
        )
    return Registry.parse(value)


def cluster_settings(config: Config, registry: Registry) -> ClusterSettings:
    """ValueError with one sentence when the settings cannot work."""
    gateway_ns, _, gateway_name = config.gateway.partition("/")
    if not gateway_ns or not gateway_name:
        raise ValueError(f"--gateway is namespace/name, not {config.gateway!r}")
    if config.kube_mode not in ("auto", "knative", "plain"):
        raise ValueError(
            f"SLIPWAY_KUBERNETES_MODE is auto, knative or plain, not {config.kube_mode!r}"
        )
    return ClusterSettings(
        namespace_prefix=config.namespace_prefix,
        registry=registry.host,
        gateway_name=gateway_name,
        gateway_namespace=gateway_ns,
        ingress_namespaces=config.ingress_namespaces or (gateway_ns,),
    )


async def make_cluster(config: Config, *, app_logs: AppLogFiles | None = None) -> Cluster:
    """Knative Serving's objects when the cluster serves them (or `kube_mode` says so),
    Deployments and Gateway API routes otherwise. ValueError with one sentence."""
    registry = cluster_registry()
    settings = cluster_settings(config, registry)
    try:
        connection = load_connection(config.kubeconfig, context=config.kube_context)
    except Exception as exc:  # the loaders raise their own types, for files and contexts
        raise ValueError(f"cannot read the cluster's settings: {exc}") from exc
    api = KubeApi(connection)
    try:
        knative = config.kube_mode == "knative" or (
            config.kube_mode == "auto" and await knative_installed(api)
        )
    except Exception as exc:
        await api.close()
        raise ValueError(f"cannot reach the cluster's API server: {exc}") from exc
    if knative:
        apps = KnativeApps(api, settings)
        return Cluster(
            api,
            KnativeRuntime(api, settings, apps, app_logs=app_logs),
            KnativeRoutes(api, settings, apps),
            "knative",
            registry,
        )
    runtime = KubernetesRuntime(api, settings, app_logs=app_logs)
    return Cluster(api, runtime, GatewayRoutes(api, settings), "plain", registry)


def make_certificate_tools(config: Config) -> CertificateTools:
    """ACME for custom domains: its account in the data dir's `acme/`, certificates in
    `certs/` (both private, like all of the data dir)."""
    data = config.data_dir.resolve()
    return CertificateTools(
        authority=AcmeAuthority(
            config.acme_directory,
            data / "acme",
            ca_bundle=config.acme_ca_bundle,
            email=config.acme_email,
        ),
        dns=ResolverDnsCheck(config.dns_resolvers),
        files=CertificateDir(data / "certs"),
    )


def make_sandbox(config: Config) -> SandboxHost:
    return SandboxHost(uid_base=config.sandbox_uid_base, router_port=config.router_port)


def build_platform(
    config: Config,
    store: SqlStore,
    router: Router,
    *,
    app_logs: AppLogFiles | None = None,
    sandbox: SandboxHost | None = None,
    cluster: Cluster | None = None,
) -> Platform:
    """With `cluster`, revisions run and are built there (issue 17)."""
    data = config.data_dir.resolve()
    source = GitSource(data / "git", local=config.local_git, deadline=config.git_deadline_seconds)
    sandbox = sandbox or make_sandbox(config)
    builder: Builder = LocalBuilder(data, source, sandbox=sandbox, registry=config.registry)
    runtime: Runtime = LocalRuntime(sandbox=sandbox, app_logs=app_logs)
    if cluster is not None:
        runtime = cluster.runtime
        builder = ClusterBuilder(
            data_dir=data,
            source=source,
            job_runner=cluster.runtime.jobs,
            registry=cluster.registry,
            sandbox=sandbox,
        )
    return Platform(
        store=store,
        source=source,
        builder=builder,
        runtime=runtime,
        router=router,
        settings=Settings(
            base_domain=config.base_domain,
            router_port=config.router_port,
            local_git=config.local_git,
            builds_per_workspace=config.builds_per_workspace,
            health_timeout_seconds=config.health_timeout_seconds,
            drain_seconds=config.drain_seconds,
            https_port=config.https_port,
            tls_names=certificate_names(config.tls_cert) if config.tls_cert else (),
            allow_wildcard_domains=config.allow_wildcard_domains,
            public_addresses=config.public_addresses,
        ),
        # On a cluster the gateway terminates TLS (docs/kubernetes.md).
        certificates=make_certificate_tools(config) if config.runtime == "local" else None,
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` below owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server_config(
    app: object,
    *,
    host: str,
    port: int,
    limits: ApiLimits,
    head_timeout: float = HEAD_TIMEOUT_SECONDS,
    access_log: bool = False,
) -> uvicorn.Config:
    """uvicorn's settings for the API, with the request limits that only the server can
    enforce (`tests/security/test_socket_limits.py` serves with exactly these). h11 enforces
    the header size limit (httptools has none), and `HeadDeadlineH11` the slow-head one."""
    return uvicorn.Config(
        HeaderLimit(app, max_bytes=limits.max_header_bytes),  # type: ignore[arg-type]
        host=host,
        port=port,
        log_config=None,  # the process's logging (cli/logsetup.py) decides where lines go
        log_level=None,
        access_log=access_log,
        lifespan="off",
        http=with_head_timeout(head_timeout, max_per_client=limits.max_per_client),
        h11_max_incomplete_event_size=limits.max_header_bytes,
        ws_max_size=limits.max_ws_frame_bytes,
        timeout_keep_alive=int(limits.keep_alive_seconds),
        limit_concurrency=limits.max_connections,
        # X-Forwarded-For decides the client address (and its rate limit bucket) only when
        # it comes from a proxy the operator named; uvicorn's default trusts loopback.
        proxy_headers=bool(limits.trusted_proxies),
        forwarded_allow_ips=list(limits.trusted_proxies) or None,
    )


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> None:
    roles = config.roles
    sandbox = None
    if "worker" in roles:
        problems = SandboxHost.problems()
        if problems:
            raise SystemExit("Slipway cannot sandbox tenant code here: " + "; ".join(problems))
        sandbox = make_sandbox(config)
        for name in await sandbox.sweep():
            log.warning("removed %s, left by a Slipway process that stopped", name)
    store = open_store(config)
    await store.migrate()
    leases = LeaseSettings(lease_seconds=config.lease_seconds)
    leader = Leadership(store, leases, always=store.single_process and "worker" in roles)
    if "worker" in roles:
        await leader.renew()
    app_logs = AppLogFiles(config.data_dir.resolve() / "logs")
    kube = await _kubernetes(config, app_logs)
    router = kube.routes if kube else make_router(config)
    platform = build_platform(
        config, store, router, app_logs=app_logs, sandbox=sandbox, cluster=kube
    )
    platform.leases, platform.owns_replicas = leases, leader.holds
    cluster, publisher = _cluster(config, platform)
    syncer = RouteSyncer(platform)
    syncer.attach()
    local = kube is None  # on a cluster, its gateway routes and its HPA autoscales
    if "router" in roles and local:  # requests held for a revision at zero start it
        Activator(platform).attach()
    worker = Worker(platform, concurrency=config.worker_concurrency)
    sweeper = LeaseSweeper(platform)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api = _api_server(config, platform, app_logs) if "api" in roles else None
    tasks: list[asyncio.Task[None]] = []
    try:
        if isinstance(router, RemoteRouter):
            try:
                await router.start()
            except RouterChildFailed as exc:
                raise SystemExit(f"Slipway cannot start its router: {exc}") from exc
        elif isinstance(router, RouterServer) and "router" in roles:
            await router.start(config.host, config.router_port, https_port=config.https_port)
        if "router" in roles and config.https_port is not None and local:  # 0: the one it got
            assert not isinstance(router, GatewayRoutes)
            https_port = router.https_port
            platform.settings = dataclasses.replace(platform.settings, https_port=https_port)
            config = dataclasses.replace(config, https_port=https_port)
        await sweeper.start_up()
        tasks = [loop.create_task(sweeper.run(), name="sweeper")]
        tasks += [loop.create_task(coro, name="cluster") for coro in cluster]
        if "worker" in roles:
            tasks.append(loop.create_task(worker.run(), name="worker"))
            tasks.append(loop.create_task(leader.run(), name="leader"))
            if platform.certificates is not None:  # in the replica owner only (its own check)
                certificates = CertificateLoop(platform, platform.certificates)
                tasks.append(loop.create_task(certificates.run(), name="certificates"))
        if {"worker", "router"} <= roles and local:  # it reads this process's router's load
            autoscaler = Autoscaler(
                platform,
                stable_seconds=config.autoscale_stable_seconds,
                panic_seconds=config.autoscale_panic_seconds,
                zero_after_seconds=config.scale_to_zero_seconds,
            )
            tasks.append(loop.create_task(autoscaler.run(), name="autoscaler"))
        if api is not None:
            tasks.append(loop.create_task(api.serve(), name="api"))
        _announce(config, first_start=not await store.workspaces.list(limit=1))
        if ready is not None:
            ready.set()
        done_task = loop.create_task(stop.wait())
        await asyncio.wait([done_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
        done_task.cancel()
    finally:
        if api is not None:
            api.should_exit = True
        await worker.close()
        for task in tasks:
            if task.get_name() != "api":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await syncer.close()
        await platform.close()
        await platform.runtime.close()
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close()
        await router.close()
        if kube is not None:
            await kube.api.close()
        with contextlib.suppress(Exception):
            await leader.resign()
        await store.close()
        app_logs.close()


async def _kubernetes(config: Config, app_logs: AppLogFiles) -> Cluster | None:
    """The cluster's runtime and routes, watching already (`--runtime kubernetes`)."""
    if config.runtime == "local":
        return None
    if config.runtime != "kubernetes":
        raise SystemExit(f"--runtime is local or kubernetes, not {config.runtime!r}")
    try:
        kube = await make_cluster(config, app_logs=app_logs)
    except ValueError as exc:
        raise SystemExit(f"Slipway cannot use the cluster: {exc}") from exc
    try:
        await kube.runtime.start()
    except Exception as exc:
        await kube.api.close()
        raise SystemExit(f"Slipway cannot reach the cluster's API server: {exc}") from exc
    log.info("revisions run on the cluster at %s (%s mode)", kube.api.server, kube.mode)
    return kube


def _cluster(
    config: Config, platform: Platform
) -> tuple[list[Coroutine[Any, Any, None]], ReplicaPublisher | None]:
    """Several processes (PostgreSQL): a worker publishes its replicas; every process reads
    published ones (`PublishedRuntime` becomes `platform.runtime`), refreshed at each
    NOTIFY; API processes wake log followers at each NOTIFY; routers also resync routes."""
    if platform.store.single_process:
        return [], None
    local, store = platform.runtime, platform.store
    leases = platform.leases
    view = PublishedRuntime(
        local, store, leading=platform.owns_replicas, lease_seconds=leases.lease_seconds
    )
    platform.runtime = view
    listener = PgListener(config.db_url)
    listener.subscribe(REPLICAS_CHANNEL, view.kick)
    listener.subscribe(LOGS_CHANNEL, platform.logs.wake)
    # Desired state changed in another process: the replica owner reconciles the app now,
    # router processes re-sync its routes (each also resyncs on its own: 5 s, 1 s).
    listener.subscribe(RECONCILE_CHANNEL, functools.partial(reconcile_soon, platform))
    tasks: list[Coroutine[Any, Any, None]] = [listener.run(), view.run()]
    publisher = None
    if "worker" in config.roles:
        publisher = ReplicaPublisher(
            store, local, owner=leases.owner, lease_seconds=leases.lease_seconds
        )
        publisher.attach()
        tasks.append(publisher.run())
    if "router" in config.roles:
        tasks.append(resync_routes(platform))
        tasks.append(send_loads(platform))  # every router's load reaches the autoscaler
    if {"worker", "router"} <= config.roles:  # may run the autoscaler
        listener.subscribe(LOAD_CHANNEL, functools.partial(received, platform))
    return tasks, publisher


def metrics_token(data_dir: Path) -> str:
    """`SLIPWAY_METRICS_TOKEN`, else the data directory's `metrics.token` (made once, 0600):
    `/metrics` crosses workspaces, so it is for the operator only."""
    token = os.environ.get("SLIPWAY_METRICS_TOKEN")
    if token:
        return token
    path = data_dir / "metrics.token"
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _api_server(config: Config, platform: Platform, app_logs: AppLogFiles) -> _Server:
    limits = ApiLimits.from_env()
    app = create_app(
        platform, limits=limits, app_logs=app_logs, metrics_token=metrics_token(config.data_dir)
    )
    return _Server(
        api_server_config(
            app,
            host=config.host,
            port=config.api_port,
            limits=limits,
            access_log=config.access_log,
        )
    )


def _announce(config: Config, *, first_start: bool) -> None:
    parts = [f"roles {','.join(sorted(config.roles))}"]
    api = f"http://{config.host}:{config.api_port}/api/v1"
    if "api" in config.roles:
        parts.append(f"API {api}")
    if "router" in config.roles:
        parts.append(f"router http://*.{config.base_domain}:{config.router_port}")
        if config.https_port is not None:
            parts.append(f"https://*.{config.base_domain}:{config.https_port}")
    parts.append(f"data {config.data_dir.resolve()}")
    log.warning("Slipway is up: %s", ", ".join(parts))
    if first_start and "api" in config.roles:
        log.warning(
            "Next, in another terminal: `slipway workspace create NAME` (a workspace and its "
            "first API key, shown once), then `slipway login --api-url %s`, then "
            "`slipway apps create APP --git-url REPO` and `slipway deploy APP --follow`.",
            api,
        )
    if config.allow_local_git:
        log.warning(
            "SLIPWAY_ALLOW_LOCAL_GIT=1: apps may build any local repository this machine has "
            "(outside the data directory). Use it only when you are the only user."
        )
    elif config.local_git_roots:
        log.warning("Local repositories allowed under: %s", ", ".join(config.local_git.roots))
