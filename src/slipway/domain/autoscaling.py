"""How many replicas an autoscaled app wants, from the concurrency its router observed, in
the manner of Knative's KPA (pure: the loop that samples and writes is
`services/serving/autoscaler.py`).

Every tick the app's observed concurrency (requests in flight, averaged over the tick) is
added to a window. Two averages decide:

- the **stable** average (the last `stable_seconds`, 60 by default) gives the replicas the
  load needs at `target` concurrent requests each;
- the **panic** average (the last `panic_seconds`, 6 by default) is watched for bursts:
  weighted by age (half of the weight every `PANIC_HALF_LIFE` seconds, as Knative's
  `weightedExponential` aggregation), so a step shows within a tick or two rather than after
  a whole window. When it needs at least twice the replicas that are ready, the app is in
  panic mode for at least a stable window after the last such burst, and it then scales on
  the panic average and never down.

Out of panic, a step scales up at most x2 of what is ready (at least by one), and scales
down only on the stable average, once the window holds a whole stable window of samples:
when the load stops, the average (and with it the replicas) comes down over one stable
window. The answer is always within `[min_replicas, max_replicas]`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

PANIC_THRESHOLD = 2.0  # panic when the burst needs this many times the ready replicas
PANIC_HALF_LIFE = 1.0  # seconds: a sample's weight in the panic average halves this often
MAX_SCALE_UP_RATE = 2.0  # out of panic, one step grows to at most this times what is ready


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int
    target: float  # concurrent requests per replica

    def clamp(self, n: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, n))


@dataclass(frozen=True)
class Decision:
    desired: int
    stable_concurrency: float
    panic_concurrency: float
    panicking: bool
    reason: str


@dataclass
class Window:
    """One app's samples: (time, observed concurrency) and the replicas each tick wanted."""

    stable_seconds: float = 60.0
    panic_seconds: float = 6.0
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    panic_until: float = float("-inf")

    def add(self, now: float, concurrency: float) -> None:
        self.samples.append((now, max(0.0, concurrency)))
        while self.samples and self.samples[0][0] <= now - self.stable_seconds:
            self.samples.popleft()

    def average(self, now: float, seconds: float) -> float:
        recent = [c for t, c in self.samples if t > now - seconds]
        return sum(recent) / len(recent) if recent else 0.0

    def recent(self, now: float, seconds: float) -> float:
        """The average of the last `seconds`, each sample weighted by its age."""
        weighted = [
            (c, 0.5 ** ((now - t) / PANIC_HALF_LIFE)) for t, c in self.samples if t > now - seconds
        ]
        total = sum(w for _, w in weighted)
        return sum(c * w for c, w in weighted) / total if total else 0.0

    def full(self, now: float) -> bool:
        """Whether the samples cover a whole stable window (before that, no scale-down)."""
        return bool(self.samples) and self.samples[0][0] <= now - self.stable_seconds + 1.0


def decide(window: Window, now: float, *, ready: int, current: int, bounds: Bounds) -> Decision:
    """The replicas to run now. `ready`: healthy replicas serving; `current`: the desired
    count stored now (what the last decision or a manual scale set)."""
    stable = window.average(now, window.stable_seconds)
    panic = window.recent(now, window.panic_seconds)
    need_stable = math.ceil(stable / bounds.target) if stable > 0 else 0
    need_panic = math.ceil(panic / bounds.target) if panic > 0 else 0
    if need_panic >= PANIC_THRESHOLD * max(ready, 1) and need_panic > ready:
        window.panic_until = now + window.stable_seconds
    panicking = now < window.panic_until
    if panicking:
        desired = max(need_panic, current)
        reason = f"panic: {panic:.1f} concurrent over {window.panic_seconds:g}s"
    else:
        desired = need_stable
        reason = f"stable: {stable:.1f} concurrent over {window.stable_seconds:g}s"
        if desired > ready:
            desired = min(desired, max(ready + 1, math.ceil(ready * MAX_SCALE_UP_RATE)))
    if desired < current and not window.full(now):
        desired = current  # too few samples (a restart) to trust a lower average yet
    desired = bounds.clamp(desired)
    return Decision(
        desired=desired,
        stable_concurrency=stable,
        panic_concurrency=panic,
        panicking=panicking,
        reason=f"{reason}, target {bounds.target:g} per replica",
    )
