"""What the router is told: an app's route table, from the store's traffic splits and the
runtime's ready replicas. `services/serving/reconcile.py` pushes it (`sync_routes`) at every change;
the table is rebuilt whole, so it does not matter which change (deploy, traffic, replica
crash) asked for it.

The app's host sends each request to a revision with traffic, by weight; each tag's host
(`{tag}---{app}.{workspace}.{base}`) sends everything to its revision; a revision's backends
are its ready replicas only.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.models import App, TrafficSplit, Workspace
from slipway.domain.revisionkeys import revision_key
from slipway.domain.routes import Route, Target, app_host, tag_host
from slipway.ports import Runtime


def build_routes(
    *,
    workspace: Workspace,
    app: App,
    splits: Sequence[TrafficSplit],
    runtime: Runtime,
    base_domain: str,
) -> list[Route]:
    def target(split: TrafficSplit, weight: int) -> Target:
        key = revision_key(workspace.id, app.id, split.revision_name)
        return Target(revision=key, weight=weight, backends=runtime.status(key).backends)

    main = Route(
        host=app_host(app.name, workspace.name, base_domain),
        targets=tuple(target(s, s.percent) for s in splits if s.percent > 0),
    )
    tagged = [
        Route(
            host=tag_host(s.tag, app.name, workspace.name, base_domain),
            targets=(target(s, 100),),
        )
        for s in splits
        if s.tag
    ]
    return [main, *tagged]
