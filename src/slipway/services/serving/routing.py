"""What the router is told: an app's route table, from the store's traffic splits and the
runtime's ready replicas. `services/serving/reconcile.py` pushes it (`sync_routes`) at every change;
the table is rebuilt whole, so it does not matter which change (deploy, traffic, replica
crash) asked for it.

The app's host sends each request to a revision with traffic, by weight; each tag's host
(`{tag}---{app}.{workspace}.{base}`) sends everything to its revision; a revision's backends
are its ready replicas only, and none while the app wants it to run no replicas (scaled to
zero: its replicas are draining and stopping, and no new request may reach them).

A revision of an app that scales to zero (autoscaled with `minReplicas` 0) that has no
backends is `cold`: the router holds its requests and asks the activator
(`services/serving/activator.py`) to start it.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.models import App, TrafficSplit, Workspace
from slipway.domain.replicacounts import share_replicas
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
    activatable = app.scales_to_zero
    wanted = share_replicas(app.replicas, splits)

    def target(split: TrafficSplit, weight: int) -> Target:
        key = revision_key(workspace.id, app.id, split.revision_name)
        backends = runtime.status(key).backends if wanted[split.revision_name] > 0 else ()
        return Target(key, weight, backends, cold=activatable and not backends)

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
