"""How many replicas each revision of an app runs (CONTRACT §5, §6).

`share_replicas`: the app's replicas shared in proportion to traffic, by largest remainder,
with at least one replica for every revision that has traffic or a tag while the app is not
scaled to zero. `desired_replicas` adds what is not yet in the traffic list: a revision a
rollout is starting, and revisions a traffic change is warming before it is stored. This is
the one answer to "how many replicas does this revision run"; `services/serving/reconcile.py` makes
the runtime match it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def desired_replicas(
    total: int,
    splits: Sequence[TrafficSplit],
    *,
    rollouts: Mapping[str, int] | None = None,
    warming: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Replicas per revision, every revision the app should run (0: it should not run).

    - The traffic list decides for every revision in it (`share_replicas`).
    - `rollouts`: revisions a deployment is rolling out (released, not yet in the traffic
      list) run the count the rollout asked for; once the revision is in the traffic list
      its share decides, also when that share is 0 (an app scaled to zero).
    - `warming`: revisions a traffic change will give replicas, started before the change
      is stored. Never fewer than the current share: nothing scales down before the routes
      change.
    """
    counts = share_replicas(total, splits)
    listed = set(counts)
    for name, count in (rollouts or {}).items():
        if name not in listed:
            counts[name] = max(counts.get(name, 0), count)
    for name, count in (warming or {}).items():
        counts[name] = max(counts.get(name, 0), count)
    return counts
