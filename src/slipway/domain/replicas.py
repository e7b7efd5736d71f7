"""How an app's replicas are shared among its revisions (CONTRACT §5).

In proportion to traffic, by largest remainder, with at least one replica for every revision
that has traffic or a tag while the app is not scaled to zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.models import TrafficSplit


def share_replicas(total: int, splits: Sequence[TrafficSplit]) -> dict[str, int]:
    """Replicas per revision.

    Revisions with traffic share `total` in proportion to their percent (largest remainder),
    each with at least one: a revision that would get none takes one from the largest share
    (the floor wins over the app's count only when there are more revisions than replicas).
    A tagged revision at 0% gets one replica of its own, on top, so its URL answers without
    taking capacity from the revisions that carry the traffic.
    """
    counts = {s.revision_name: 0 for s in splits}
    if total <= 0:
        return counts
    serving = [s for s in splits if s.percent > 0]
    exact = {s.revision_name: total * s.percent / 100 for s in serving}
    for name, value in exact.items():
        counts[name] = int(value)
    left = total - sum(counts[name] for name in exact)
    by_remainder = sorted(exact, key=lambda n: (exact[n] - int(exact[n]), exact[n]), reverse=True)
    for name in by_remainder[:left]:
        counts[name] += 1
    for name in exact:
        if counts[name] == 0:
            donor = max(exact, key=lambda n: counts[n])
            if counts[donor] > 1:
                counts[donor] -= 1
            counts[name] = 1
    for split in splits:
        if split.tag and split.percent == 0:
            counts[split.revision_name] = 1
    return counts
