"""The compiled route table: host → `CompiledRoute`, each with its own pick state.

A `CompiledRoute` holds a `SmoothWRR` over the targets that have weight > 0 *and* ready
backends (a target without backends gets no requests rather than failing some), and each
`CompiledTarget` rotates over its backends and carries its revision's `RevisionStats`, so
the hot path counts without a lookup. The whole table is a plain dict that the server replaces
wholesale on every change, so a request in flight keeps the objects it already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from slipway.domain.routes import Route, Target
from slipway.router.metrics import RevisionStats
from slipway.router.wrr import SmoothWRR

Address = tuple[str, int, str]  # host, port, network namespace ("" = the host's)


class CompiledTarget:
    __slots__ = ("_count", "_next", "backends", "revision", "stats")

    def __init__(self, target: Target, stats: RevisionStats) -> None:
        self.revision = target.revision
        self.stats = stats
        self.backends: tuple[Address, ...] = tuple(
            (b.host, b.port, b.netns) for b in target.backends
        )
        self._count = len(self.backends)
        self._next = 0

    def next_backend(self) -> int:
        """Index of the next backend in round-robin order."""
        i = self._next
        self._next = 0 if i + 1 >= self._count else i + 1
        return i


class CompiledRoute:
    __slots__ = ("_only", "_wrr", "app_id", "host")

    def __init__(self, app_id: str, route: Route, stats: Callable[[str], RevisionStats]) -> None:
        self.app_id = app_id
        self.host = route.host
        self._wrr: SmoothWRR[CompiledTarget] = SmoothWRR(
            [(CompiledTarget(t, stats(t.revision)), t.weight) for t in route.targets if t.backends]
        )
        self._only = self._wrr.pick() if len(self._wrr) == 1 else None

    def pick(self) -> CompiledTarget | None:
        """The target for the next request, or None when no target can serve."""
        if self._only is not None:
            return self._only  # one target with traffic: no arithmetic
        return self._wrr.pick() if len(self._wrr) else None


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
    app_id: str, routes: Sequence[Route], stats: Callable[[str], RevisionStats]
) -> dict[str, CompiledRoute]:
    return {normalize_host(r.host.encode()): CompiledRoute(app_id, r, stats) for r in routes}
