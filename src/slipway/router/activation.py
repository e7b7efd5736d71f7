"""Requests held for a revision that has no ready replica, while the control plane starts one
(activation, issue 14; Knative's activator, inside the router).

A cold target (`domain/routes.py`) takes its share of requests like any other. When one of
its requests is next on its connection, `Activations.hold` queues it under the revision's
key and asks the control plane to start the revision
(`ask(key)`: a callback in this process, a message from the router process). The ask is
repeated every `ASK_AGAIN_SECONDS` while requests wait, so a lost signal or a replica that
was ready before its routes arrived costs at most that.

- **Release**: when an app's routes are set and a waiting revision now has backends, its
  requests go to them in arrival order (`ClientConnection.release_held`).
- **Bounds**: at most `max_held` requests per revision (one more is answered 503 with
  `Retry-After` at once) and each for at most `hold_seconds` (then 503 with `Retry-After`).
  The client is still read while it waits (its body is bounded by `PENDING_LIMIT`), so
  one that goes away ends its exchange at once and is skipped when its turn comes.
- **Failure**: `refuse(key, reason, seconds)` answers every held request 503 with the
  reason, and any new request of the revision for `seconds` (a start that failed is not
  retried by every request that follows).

Each event is counted in the router's edge events (`activation_held`, `activation_released`,
`activation_queue_full`, `activation_timeout`, `activation_failed`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slipway.router.exchange import Exchange, canned
from slipway.router.limits import EdgeLimits, EdgeStats

if TYPE_CHECKING:
    from slipway.router.client import ClientConnection
    from slipway.router.table import CompiledRoute

ASK_AGAIN_SECONDS = 1.0
REASON_CHARS = 300  # of a failure's reason, in the answer


@dataclass
class _Waiting:
    queue: deque[tuple[ClientConnection, Exchange, float]] = field(default_factory=deque)
    asked: float = 0.0  # loop time the control plane was last asked to start the revision


class Activations:
    def __init__(self, limits: EdgeLimits, edge: EdgeStats) -> None:
        self.hold_seconds = limits.hold_seconds
        self.max_held = limits.max_held
        self.edge = edge
        self.ask: Callable[[str], None] | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._refused: dict[str, tuple[float, bytes]] = {}  # key -> (until, answer)
        retry = math.ceil(limits.hold_seconds)
        self._full = canned(
            "503 Service Unavailable",
            "The app is starting and has too many requests waiting.",
            "Retry-After: 1",
        )
        self._too_long = canned(
            "503 Service Unavailable",
            f"The app did not start within {limits.hold_seconds:g} seconds.",
            f"Retry-After: {retry}",
        )

    def held(self, key: str) -> int:
        waiting = self._waiting.get(key)
        return len(waiting.queue) if waiting is not None else 0

    def hold(self, client: ClientConnection, ex: Exchange, key: str, now: float) -> bytes | None:
        """Queue `ex` until revision `key` has a replica; None when held, else the answer to
        give now (a recent failure, or a full queue)."""
        refused = self._refused.get(key)
        if refused is not None:
            if now < refused[0]:
                self.edge["activation_failed"] += 1
                return refused[1]
            del self._refused[key]
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = _Waiting()
        queue = waiting.queue
        if len(queue) >= self.max_held:
            waiting.queue = queue = deque(e for e in queue if e[0].is_active(e[1]))
            if len(queue) >= self.max_held:
                self.edge["activation_queue_full"] += 1
                return self._full
        queue.append((client, ex, now))
        self.edge["activation_held"] += 1
        if len(queue) == 1 or now - waiting.asked >= ASK_AGAIN_SECONDS:
            self._ask(key, waiting, now)
        return None

    def release(self, routes: Iterable[CompiledRoute]) -> None:
        """After an app's routes changed: waiting revisions that now have backends get their
        requests, in arrival order."""
        if not self._waiting:
            return
        for route in routes:
            for key in list(self._waiting):
                target = route.serving(key)
                if target is None:
                    continue
                waiting = self._waiting.pop(key)
                self._refused.pop(key, None)
                for client, ex, _ in waiting.queue:
                    if client.release_held(ex, target):
                        self.edge["activation_released"] += 1

    def refuse(self, key: str, reason: str, seconds: float, now: float) -> None:
        """The revision could not start: its held requests (and, for `seconds`, new ones)
        are answered 503 with `reason`."""
        text = " ".join(reason.split())[:REASON_CHARS]
        answer = canned(
            "503 Service Unavailable",
            f"The app could not start: {text}",
            f"Retry-After: {max(1, math.ceil(seconds))}",
        )
        if seconds > 0:
            self._refused[key] = (now + seconds, answer)
        waiting = self._waiting.pop(key, None)
        if waiting is None:
            return
        for client, ex, _ in waiting.queue:
            if client.refuse_held(ex, answer):
                self.edge["activation_failed"] += 1

    def check(self, now: float) -> None:
        """The sweep: requests held too long are answered; waiting revisions asked again."""
        for key, waiting in list(self._waiting.items()):
            queue = waiting.queue
            while queue and queue[0][2] <= now - self.hold_seconds:
                client, ex, _ = queue.popleft()
                if client.refuse_held(ex, self._too_long):
                    self.edge["activation_timeout"] += 1
            if not queue:
                del self._waiting[key]
            elif now - waiting.asked >= ASK_AGAIN_SECONDS:
                self._ask(key, waiting, now)
        for key in [k for k, (until, _) in self._refused.items() if until <= now]:
            del self._refused[key]

    def _ask(self, key: str, waiting: _Waiting, now: float) -> None:
        waiting.asked = now
        if self.ask is not None:
            try:
                self.ask(key)
            except Exception:  # the control plane's trouble must not stop the data plane
                self.edge["activation_ask_failed"] += 1
