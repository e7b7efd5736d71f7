"""How an app's replicas are shared among its revisions (CONTRACT §5).

In proportion to traffic, by largest remainder, with at least one replica for every revision
that has traffic or a tag while the app is not scaled to zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.models import TrafficSplit


def share_replicas(total: int, splits: Sequence[TrafficSplit]) -> dict[str, int]:
    live = [s for s in splits if s.percent > 0 or s.tag]
    if total <= 0 or not live:
        return {s.revision_name: 0 for s in splits}
    exact = {s.revision_name: total * s.percent / 100 for s in live}
    counts = {name: int(value) for name, value in exact.items()}
    left = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda n: (exact[n] - counts[n], exact[n]), reverse=True)
    for name in by_remainder[: max(left, 0)]:
        counts[name] += 1
    return {name: max(count, 1) for name, count in counts.items()}
