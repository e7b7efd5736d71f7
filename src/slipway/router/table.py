"""The compiled route table: host → `CompiledRoute`, each with its own pick state.

A `CompiledRoute` holds a `SmoothWRR` over the targets that have weight > 0 *and* ready
backends (a target without backends gets no requests rather than failing some) or are cold
(their requests wait for a replica: `activation.py`), and each
`CompiledTarget` rotates over its backends and carries its revision's `RevisionStats`, so
the hot path counts without a lookup. The whole table is a plain dict that the server replaces
wholesale on every change, so a request in flight keeps the objects it already holds.

A route compiled again with the same revisions and weights (the reconciler pushes an app's
routes on every pass; a scale changes only backends) continues the old route's weighted
sequence and backend rotation, so a split stays exact over every window of sum(weights)
requests however often it is pushed. A different split starts its own sequence.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence

from slipway.domain.routes import Route, Target
from slipway.router.metrics import RevisionStats
from slipway.router.tls import Certificates
from slipway.router.wrr import SmoothWRR

Address = tuple[str, int, str]  # host, port, network namespace ("" = the host's)


class CompiledTarget:
    __slots__ = ("_count", "_next", "backends", "revision", "stats")

    def __init__(self, target: Target, stats: RevisionStats) -> None:
        self.revision = target.revision
        self.stats = stats  # the revision's own, whichever table it is compiled in
        self.backends: tuple[Address, ...] = tuple(
            (b.host, b.port, b.netns) for b in target.backends
        )
        self._count = len(self.backends)
        self._next = 0

    def continue_from(self, other: CompiledTarget) -> None:
        """Go on rotating where `other` (this revision's previous backends) stood."""
        self._next = other._next % self._count if self._count else 0

    def next_backend(self) -> int:
        """Index of the next backend in round-robin order."""
        i = self._next
        self._next = 0 if i + 1 >= self._count else i + 1
        return i


class CompiledRoute:
    __slots__ = (
        "_only",
        "_split",
        "_targets",
        "_wrr",
        "app_id",
        "certificate_path",
        "challenges",
        "host",
        "https_only",
        "plain_http_rules",
        "tls",
    )

    def __init__(
        self,
        app_id: str,
        route: Route,
        stats: Callable[[str], RevisionStats],
        previous: CompiledRoute | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app_id = app_id
        self.host = route.host
        self.tls = tls  # this host's own certificate (None: the default one, if any)
        self.certificate_path = route.certificate
        self.https_only = route.https_only
        self.challenges = {t.encode(): a.encode() for t, a in route.challenges}
        # Plain HTTP answers something itself (a redirect, an ACME answer): one flag to test.
        self.plain_http_rules = route.https_only or bool(self.challenges)
        weighted = [
            (CompiledTarget(t, stats(t.revision)), t.weight)
            for t in route.targets
            if t.backends or t.cold
        ]
        self._targets = {target.revision: target for target, _ in weighted}
        self._split = tuple((target.revision, weight) for target, weight in weighted)
        self._wrr: SmoothWRR[CompiledTarget] = SmoothWRR(weighted)
        self._only = self._wrr.pick() if len(self._wrr) == 1 else None
        if previous is not None:
            self._continue_from(previous)

    def _continue_from(self, previous: CompiledRoute) -> None:
        for revision, target in self._targets.items():
            before = previous._targets.get(revision)
            if before is not None:
                target.continue_from(before)
        if previous._split == self._split:
            self._wrr.continue_from(previous._wrr)

    def serving(self, revision: str) -> CompiledTarget | None:
        """This route's target for `revision` when it has backends."""
        target = self._targets.get(revision)
        return target if target is not None and target.backends else None

    def pick(self) -> CompiledTarget | None:
        """The target for the next request, or None when no target can serve."""
        if self._only is not None:
            return self._only  # one target with traffic: no arithmetic
        return self._wrr.pick() if len(self._wrr) else None


def lookup(table: Mapping[str, CompiledRoute], host: str) -> CompiledRoute | None:
    """`host`'s route: its own, else a wildcard's one label up (`*.example.com`)."""
    route = table.get(host)
    if route is None and "." in host:
        route = table.get("*." + host.partition(".")[2])
    return route


def normalize_host(raw: bytes | None) -> str:
    """Lowercase and strip the port: b"Api.Example.com:8080" → "api.example.com"."""
    if not raw:
        return ""
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 else host


def compile_routes(
    app_id: str,
    routes: Sequence[Route],
    stats: Callable[[str], RevisionStats],
    previous: Mapping[str, CompiledRoute] | None = None,
    certificates: Certificates | None = None,
) -> dict[str, CompiledRoute]:
    """The app's hosts compiled, each going on from its `previous` route (same split), with
    its certificate loaded (cached by file) when it has one."""
    compiled = {}
    for route in routes:
        host = normalize_host(route.host.encode())
        before = previous.get(host) if previous is not None else None
        if before is not None and before.app_id != app_id:
            before = None
        tls = certificates.context(route.certificate) if certificates is not None else None
        compiled[host] = CompiledRoute(app_id, route, stats, before, tls)
    return compiled
