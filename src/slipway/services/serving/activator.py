"""Activation: a request for a revision at zero starts it (issue 14).

An app that scales to zero (`maxReplicas` set, `minReplicas` 0) has its revisions routed as
cold targets while no replica of theirs is ready (`routing.py`). The router holds their
requests and asks for the revision (`Router.on_activate`); `Activator.request` then, once
per revision at a time:

1. writes desired state: an app at zero replicas gets `max(1, minReplicas)` (what the
   autoscaler would write for the held requests, without waiting for its next tick; it
   writes more under load), and reconciles the app (the reconciler starts the replica; in a
   process that does not run replicas, it asks the owner);
2. waits until the revision has a ready replica; the runtime's readiness event pushes the
   routes, and the router releases the held requests in arrival order. The routes are pushed
   once more at the end, for a revision that was ready before it was asked;
3. if the revision cannot start (it exits before becoming healthy, or does not become healthy
   within the health timeout), answers the held requests 503 with the reason's first
   sentence, and new requests for `REFUSE_SECONDS` the same (a broken app is not started
   again by every request), and keeps the whole failure for Runtime Status.

It writes nothing but the app's replica count and starts nothing itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime

from slipway.domain.errors import DeployFailed
from slipway.domain.revisionkeys import parse_revision_key
from slipway.services.platform import Platform, events
from slipway.services.platform.handle import Activation
from slipway.services.serving.reconcile import load_app, reconcile_locked, sync_routes

log = logging.getLogger(__name__)

REFUSE_SECONDS = 5.0
_OUTPUT_TAIL = re.compile(r"[.;] (Its last \d+ lines? of output:|it printed nothing\.).*", re.S)


def short_reason(failure: str) -> str:
    """The first sentence of a start failure, without the app's output (which may say more
    than an anonymous client should read)."""
    return _OUTPUT_TAIL.sub("", failure.strip().splitlines()[0] if failure.strip() else failure)


class Activator:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._starting: set[str] = set()

    def attach(self) -> None:
        self.platform.router.on_activate(self.request)

    def request(self, key: str) -> None:
        """The router holds requests for revision `key` (called again every second while it
        does): start it, unless that is under way."""
        if key in self._starting or parse_revision_key(key) is None:
            return
        self._starting.add(key)
        self.platform.spawn(self.activate(key))

    async def activate(self, key: str) -> None:
        """Start revision `key` for the requests the router holds (see the module)."""
        self._starting.add(key)
        try:
            await self._start(key)
        except Exception:  # the router asks again while requests wait
            log.exception("could not activate %s", key)
        finally:
            self._starting.discard(key)

    async def _start(self, key: str) -> None:
        platform = self.platform
        clock = asyncio.get_running_loop().time
        began, started = clock(), datetime.now(UTC)
        parsed = parse_revision_key(key)
        if parsed is None:  # never one of our routes' keys
            return
        async with platform.app_lock(parsed.app_id):  # read and written under the app's lock
            found = await load_app(platform, parsed.workspace_id, parsed.app_id)
            if found is None:
                platform.router.refuse_held(key, "the app no longer exists", REFUSE_SECONDS)
                return
            workspace, app = found
            if app.replicas == 0 and app.scales_to_zero:
                app = replace(app, replicas=max(1, app.min_replicas))
                # desired state, as the autoscaler writes it
                await platform.store.scoped(workspace.id).apps.update(app)
                events.event(
                    "activation",
                    f"activating {workspace.name}/{app.name} {parsed.revision}: 0 -> "
                    f"{app.replicas} replicas (requests wait)",
                    app=app.id,
                    workspace=workspace.id,
                    revision=parsed.revision,
                )
            await reconcile_locked(platform, workspace, app)
        scheduled = clock()
        try:
            timeout = platform.settings.health_timeout_seconds
            await platform.runtime.wait_ready(key, 1, timeout=timeout)
        except DeployFailed as exc:
            failure = str(exc)
            events.event(
                "activation_failed",
                f"{workspace.name}/{app.name} {parsed.revision} could not start on demand: "
                + short_reason(failure),
                app=app.id,
                workspace=workspace.id,
                revision=parsed.revision,
            )
            platform.activations[app.id] = Activation(parsed.revision, started, failure)
            platform.router.refuse_held(key, short_reason(failure), REFUSE_SECONDS)
            return
        ready = clock()
        await sync_routes(platform, workspace, app)
        phases = (
            ("scheduled", scheduled - began),
            ("started", ready - scheduled),
            ("routed", clock() - ready),
        )
        platform.activations[app.id] = Activation(parsed.revision, started, phases=phases)
