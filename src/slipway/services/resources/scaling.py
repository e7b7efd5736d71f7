"""Scale App (CONTRACT §5): the app's desired replica count, 0-10.

The count is stored on the app and `reconcile_app` shares it among the revisions by traffic
(`slipway.domain.replicacounts`): new replicas join the routes once healthy, surplus ones are
drained before they stop, and 0 drains and stops everything (the router then answers 503).
The answer does not wait for replicas to start: `status` says `scaling` until every serving
revision has exactly its share of ready replicas, then `running` (or `stopped` at 0).
`currentReplicas` counts the ready replicas of the revisions that take a share of the app's
traffic; a revision reachable only by its tag (0%) runs one replica on top, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from slipway.domain.errors import FieldError, NotFound, raise_if
from slipway.domain.models import App, TrafficSplit, utcnow
from slipway.domain.replicacounts import share_replicas
from slipway.domain.revisionkeys import revision_key
from slipway.ports import Runtime
from slipway.services.platform import Platform
from slipway.services.resources.apps import get_app
from slipway.services.serving.reconcile import reconcile_locked

MAX_REPLICAS = 10


@dataclass(frozen=True)
class ScaleState:
    app_id: str
    name: str
    requested_replicas: int
    current_replicas: int
    status: str  # scaling | running | stopped


def _problems(app_id: str | None, replicas: int | None) -> list[FieldError]:
    errors = [] if app_id else [FieldError("appId", "is required")]
    if replicas is None:
        errors.append(FieldError("replicas", "is required"))
    elif not 0 <= replicas <= MAX_REPLICAS:
        errors.append(FieldError("replicas", f"must be an integer from 0 to {MAX_REPLICAS}"))
    return errors


async def scale(
    platform: Platform, workspace_id: str, *, app_id: str | None, replicas: int | None
) -> ScaleState:
    raise_if(_problems(app_id, replicas))
    assert app_id is not None and replicas is not None
    app = await get_app(platform, workspace_id, app_id)
    workspace = await platform.store.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    scoped = platform.store.scoped(workspace_id)
    async with platform.app_lock(app.id):
        fresh = await scoped.apps.get(app.id) or app
        updated = replace(fresh, replicas=replicas, updated_at=utcnow())
        await scoped.apps.update(updated)
        await reconcile_locked(platform, workspace, updated)
    splits = await scoped.traffic.get(app.id)
    return scale_state(platform.runtime, updated, splits)


def scale_state(runtime: Runtime, app: App, splits: list[TrafficSplit]) -> ScaleState:
    shares = share_replicas(app.replicas, splits)
    live = {name for name, count in shares.items() if count > 0}
    ready = {
        s.revision_name: runtime.status(revision_key(app.workspace_id, app.id, s.revision_name))
        for s in splits
    }
    weighted = {s.revision_name for s in splits if s.percent > 0}
    current = sum(ready[name].ready for name in live & weighted)
    if app.replicas == 0 or not splits:
        running = sum(r.total for r in ready.values())
        status = "scaling" if running else "stopped"
    elif all(ready[n].ready == shares[n] == ready[n].total for n in live):
        status = "running"
    else:
        status = "scaling"
    return ScaleState(app.id, app.name, app.replicas, current, status)
