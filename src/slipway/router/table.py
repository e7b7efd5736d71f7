"""The compiled route table: host → `CompiledRoute`, each with its own pick state.

A `CompiledRoute` holds a `SmoothWRR` over the targets that have weight > 0 *and* ready
backends (a target without backends gets no requests rather than failing some), and each
`CompiledTarget` rotates over its backends. The whole table is a plain dict that the server
replaces wholesale on every change, so a request in flight keeps the objects it already holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.routes import Route, Target
from slipway.router.wrr import SmoothWRR

Address = tuple[str, int]


class CompiledTarget:
    __slots__ = ("_next", "backends", "revision")

    def __init__(self, target: Target) -> None:
        self.revision = target.revision
        self.backends: tuple[Address, ...] = tuple((b.host, b.port) for b in target.backends)
        self._next = 0

    def next_backend(self) -> int:
        """Index of the next backend in round-robin order."""
        i = self._next
        self._next = (i + 1) % len(self.backends)
        return i


class CompiledRoute:
    __slots__ = ("_wrr", "app_id", "host")

    def __init__(self, app_id: str, route: Route) -> None:
        self.app_id = app_id
        self.host = route.host
        self._wrr: SmoothWRR[CompiledTarget] = SmoothWRR(
            [(CompiledTarget(t), t.weight) for t in route.targets if t.backends]
        )

    def pick(self) -> CompiledTarget | None:
        """The target for the next request, or None when no target can serve."""
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


def compile_routes(app_id: str, routes: Sequence[Route]) -> dict[str, CompiledRoute]:
    return {normalize_host(r.host.encode()): CompiledRoute(app_id, r) for r in routes}
