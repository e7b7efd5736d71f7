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

Each custom domain (issue 16) routes like the app's host, or like its tag's host when it is
bound to a tag (a tag no split carries any more: no target, 503), with its certificate
once it has one and its ACME challenge while one is answered. Plain HTTP redirects to HTTPS
(the app's `httpsOnly`) on hosts that have a certificate: their own, or the operator's.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.domain.models import App, Domain, TrafficSplit, Workspace
from slipway.domain.replicacounts import share_replicas
from slipway.domain.revisionkeys import revision_key
from slipway.domain.routes import Route, Target, app_host, tag_host
from slipway.ports import Runtime
from slipway.services.platform import Settings


def build_routes(
    *,
    workspace: Workspace,
    app: App,
    splits: Sequence[TrafficSplit],
    runtime: Runtime,
    settings: Settings,
    domains: Sequence[Domain] = (),
) -> list[Route]:
    activatable = app.scales_to_zero
    wanted = share_replicas(app.replicas, splits)

    def target(split: TrafficSplit, weight: int) -> Target:
        key = revision_key(workspace.id, app.id, split.revision_name)
        backends = runtime.status(key).backends if wanted[split.revision_name] > 0 else ()
        return Target(key, weight, backends, cold=activatable and not backends)

    base_domain = settings.base_domain

    def platform_route(host: str, targets: tuple[Target, ...]) -> Route:
        https_only = app.https_only and settings.default_certificate_covers(host)
        return Route(host=host, targets=targets, https_only=https_only)

    split_targets = tuple(target(s, s.percent) for s in splits if s.percent > 0)
    tag_targets = {s.tag: (target(s, 100),) for s in splits if s.tag}
    routes = [platform_route(app_host(app.name, workspace.name, base_domain), split_targets)]
    routes += [
        platform_route(tag_host(tag, app.name, workspace.name, base_domain), targets)
        for tag, targets in tag_targets.items()
    ]
    for domain in domains:
        certified = domain.certificate_path is not None or (
            domain.status == "ready" and settings.default_certificate_covers(domain.hostname)
        )
        token, answer = domain.challenge_token, domain.challenge_answer
        routes.append(
            Route(
                host=domain.hostname,
                targets=split_targets if domain.tag is None else tag_targets.get(domain.tag, ()),
                certificate=domain.certificate_path,
                https_only=app.https_only and certified and settings.https_port is not None,
                challenges=((token, answer),) if token and answer else (),
            )
        )
    return routes
