"""`RouterServer`: the HTTP/1.1 reverse proxy in front of every app's replicas.

The route table is an immutable-by-convention dict host → `CompiledRoute`; `set_routes` and
`remove_app` build a new dict and assign it, so a request that already picked its target is
never affected, and lookups need no lock. Requests are looked up by their raw Host header
bytes in `hosts`, a bounded cache in front of the table (normalising a host costs more than
the rest of the lookup); it is emptied whenever the table changes. Connections to backends
are pooled per address; a replica's address names its network namespace, and the socket to
it is opened inside that namespace (`slipway.sandbox.netns.connect_in`).
Per-revision counters live in `RevisionStats` objects that outlive
route changes; `start` registers a Prometheus collector over them and `close` removes it.
Run it on uvloop where available (`loop_factory()` gives the right loop); it works on the
default asyncio loop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

from slipway.domain.routes import Route
from slipway.router.activation import Activations
from slipway.router.client import ClientConnection
from slipway.router.exchange import OVERLOADED, Exchange
from slipway.router.limits import EdgeLimits, EdgeStats
from slipway.router.metrics import RevisionStats, RouterCollector
from slipway.router.table import Address, CompiledRoute, compile_routes, lookup, normalize_host
from slipway.router.tls import Certificates
from slipway.router.upstream import Pool, UpstreamConnection
from slipway.sandbox.netns import connect_in

MAX_CACHED_HOSTS = 4096
SWEEP_SECONDS = 1.0


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """`uvloop.new_event_loop` when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop
    return uvloop.new_event_loop


class RouterServer:
    """Implements `slipway.ports.Router`, and serves the data plane."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = REGISTRY,
        limits: EdgeLimits | None = None,
        trusted: Iterable[str] = (),
        certificates: Certificates | None = None,
    ) -> None:
        self.limits = limits or EdgeLimits()
        self.certificates = certificates or Certificates()
        self.response_head_seconds = self.limits.response_head_seconds
        self.clock = 0.0  # the loop's time at the last sweep: what deadlines start from
        self.trusted = frozenset(address.encode() for address in trusted)
        self.edge: EdgeStats = EdgeStats()
        self.per_client: dict[bytes, int] = {}
        self.table: dict[str, CompiledRoute] = {}
        self.hosts: dict[bytes | None, CompiledRoute] = {}
        self.connections: set[ClientConnection] = set()
        self.pool = Pool()
        self.stats: dict[str, RevisionStats] = {}
        self._app_hosts: dict[str, frozenset[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        # ":8443" (b"" for 443) in redirects to HTTPS; None while there is no HTTPS listener.
        self.https_suffix: bytes | None = None
        self._registry = registry
        self._collector: RouterCollector | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.activations = Activations(self.limits, self.edge)

    # ------------------------------------------------------------------ Router

    def set_routes(self, app_id: str, routes: Sequence[Route]) -> None:
        compiled = compile_routes(app_id, routes, self._stats_for, self.table, self.certificates)
        table = {
            host: route
            for host, route in self.table.items()
            if host not in self._app_hosts.get(app_id, ())
        }
        table.update(compiled)
        self._app_hosts[app_id] = frozenset(compiled)
        self.table = table
        self.hosts = {}
        self.activations.release(compiled.values())
        if any(route.certificate for route in routes):
            self._forget_certificates()

    def remove_app(self, app_id: str) -> None:
        hosts = self._app_hosts.pop(app_id, frozenset())
        self.table = {h: r for h, r in self.table.items() if h not in hosts}
        self.hosts = {}
        self._forget_certificates()

    def _forget_certificates(self) -> None:
        self.certificates.keep_only(
            {r.certificate_path for r in self.table.values() if r.certificate_path}
        )

    def in_flight(self, revision_key: str) -> int:
        """Requests of that revision being proxied right now (for draining)."""
        stats = self.stats.get(revision_key)
        return stats.in_flight if stats is not None else 0

    def load(self) -> dict[str, tuple[float, int]]:
        """Every revision's (concurrency-seconds, requests) so far (the autoscaler's input)."""
        return {key: stats.load() for key, stats in list(self.stats.items())}

    def on_activate(self, callback: Callable[[str], None]) -> None:
        """`callback(revision_key)` when requests wait for a cold revision (`activation.py`)."""
        self.activations.ask = callback

    def refuse_held(self, revision_key: str, reason: str, seconds: float) -> None:
        """The revision could not start: its held requests, and new ones for `seconds`, get
        503 with `reason`."""
        self.activations.refuse(revision_key, reason, seconds, self.clock)

    async def settled(self) -> None:
        """Changes apply at once here."""

    async def metrics(self) -> bytes:
        """Nothing: `start` put this router's figures in the process's registry."""
        return b""

    def resolve(self, raw_host: bytes | None) -> CompiledRoute | None:
        """The route for a raw Host header value (port, case and all), cached."""
        route = lookup(self.table, normalize_host(raw_host))
        if route is not None:
            if len(self.hosts) >= MAX_CACHED_HOSTS:
                self.hosts = {}
            self.hosts[raw_host] = route
        return route

    # ------------------------------------------------------------------ lifecycle

    def tls_for(self, server_name: str) -> ssl.SSLContext | None:
        """The certificate (context) of the host a TLS client names, if it has its own."""
        route = lookup(self.table, server_name)
        return route.tls if route is not None else None

    async def start(self, host: str, port: int, *, https_port: int | None = None) -> None:
        """Serve plain HTTP on `port` and, when `https_port` is given, HTTPS on it."""
        loop = asyncio.get_running_loop()
        self.clock = loop.time()
        self._server = await loop.create_server(
            lambda: ClientConnection(self), host, port, reuse_address=True, backlog=1024
        )
        if https_port is not None:
            try:
                self._tls_server = await loop.create_server(
                    lambda: ClientConnection(self, tls=True),
                    host,
                    https_port,
                    ssl=self.certificates.listening(self.tls_for),
                    ssl_handshake_timeout=self.limits.head_seconds,
                    reuse_address=True,
                    backlog=1024,
                )
            except OSError:
                self._server.close()
                raise
            bound = self.https_port
            self.https_suffix = b"" if bound == 443 else b":%d" % bound
        self._sweeper = loop.create_task(self._sweep(), name="router sweep")
        if self._registry is not None and self._collector is None:
            self._collector = RouterCollector(self.stats, self.edge, self.connections)
            self._registry.register(self._collector)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the router is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def https_port(self) -> int:
        if self._tls_server is None or not self._tls_server.sockets:
            raise RuntimeError("the router serves no HTTPS")
        return int(self._tls_server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._collector is not None and self._registry is not None:
            self._registry.unregister(self._collector)
            self._collector = None
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.pool.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self._server, self._tls_server):
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)
        self._server = self._tls_server = None

    # ------------------------------------------------------------------ for the protocols

    def admit(self, conn: ClientConnection) -> bool:
        """Count a new client connection in, or answer 503 and close it past a cap."""
        limits = self.limits
        peer = conn.peer
        if len(self.connections) >= limits.max_connections:
            event = "rejected_global"
        elif self.per_client.get(peer, 0) >= limits.max_per_client:
            event = "rejected_per_client"
        else:
            self.connections.add(conn)
            self.per_client[peer] = self.per_client.get(peer, 0) + 1
            return True
        self.edge[event] += 1
        conn.closed = True
        if conn.transport is not None:
            conn.transport.write(OVERLOADED)
            conn.transport.close()
        return False

    def release(self, conn: ClientConnection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        peer = conn.peer
        left = self.per_client.get(peer, 1) - 1
        if left > 0:
            self.per_client[peer] = left
        else:
            self.per_client.pop(peer, None)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.clock = loop.time()
            await asyncio.sleep(SWEEP_SECONDS)
            now = loop.time() - SWEEP_SECONDS  # deadlines were set from a clock this late
            for conn in list(self.connections):
                conn.check(now)
            self.activations.check(now)

    def _stats_for(self, revision_key: str) -> RevisionStats:
        stats = self.stats.get(revision_key)
        if stats is None:
            stats = self.stats[revision_key] = RevisionStats(revision_key)
        return stats

    def connect(self, client: ClientConnection, ex: Exchange, index: int, *, fresh: bool) -> None:
        """Attach an upstream connection to `ex`: a pooled one at once, else a new one."""
        target = ex.target
        if target is None:
            return
        if not fresh:
            conn = self.pool.take(target.backends[index])
            if conn is not None:
                conn.attach(ex, client)
                return
        task = asyncio.get_running_loop().create_task(self._open(client, ex, index))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, client: ClientConnection, ex: Exchange, index: int) -> None:
        target = ex.target
        if target is None:
            return
        address = target.backends[index]
        try:
            conn = await asyncio.wait_for(self._connect(address), self.limits.connect_seconds)
        except (OSError, TimeoutError):
            target.stats.upstream_errors += 1
            if client.closed or not client.is_active(ex):
                return
            if not ex.retried and len(target.backends) > 1:
                ex.retried = True  # refused: once more, on the next backend of the target
                ex.backend_index = (index + 1) % len(target.backends)
                self.connect(client, ex, ex.backend_index, fresh=True)
            else:
                client.connect_failed(ex)
            return
        if client.closed or not client.is_active(ex):
            conn.close()
            return
        conn.attach(ex, client)

    async def _connect(self, address: Address) -> UpstreamConnection:
        host, port, netns = address
        loop = asyncio.get_running_loop()
        if netns:
            sock = await connect_in(netns, host, port)
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(self.pool, address), sock=sock
            )
        else:
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(self.pool, address), host, port
            )
        return conn
