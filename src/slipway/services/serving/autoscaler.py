"""The autoscaler: every half second, in the process that runs the replicas, each app with
`maxReplicas` set gets the replica count its observed concurrency needs
(`domain/autoscaling.py`, Knative's KPA), written as desired state (`app.replicas`); the
reconciler does the rest. It writes nothing else and starts nothing itself.

Its input is the router's load (`Router.load`: per revision, concurrency-seconds and
requests, counters that only grow), and that of every other router process
(`loadshare.py`): two readings a tick apart give each revision's average concurrency over
the tick, summed over the routers; the app's is the sum over the revisions in its traffic
list. The replicas are then shared among revisions by traffic (`domain/replicacounts.py`),
so revisions that share traffic are scaled by their share of the load.

An app with `minReplicas` 0 goes to zero replicas once no request has been in flight for
`zero_after_seconds` (the grace period, 60 s by default: `SLIPWAY_SCALE_TO_ZERO_SECONDS`);
until then it keeps at least one. At zero its revisions are cold targets: the router holds
their requests and the activator (`activator.py`) starts them; the held requests count as
in flight here, so the autoscaler then scales on them as on any load.

Each decision that changes the count is logged with its inputs; the latest decision and
observation of every autoscaled app are in `platform.autoscaling` (Runtime Status and
`/metrics` read them).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

from slipway.domain.autoscaling import Bounds, Decision, Window, decide
from slipway.domain.models import App, Workspace
from slipway.domain.revisionkeys import revision_key
from slipway.services.platform import Platform, events
from slipway.services.platform.handle import AutoscaleState
from slipway.services.serving.reconcile import reconcile_locked

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5  # the issue asks for a sample at least every second


@dataclass
class _Reading:
    at: float
    busy: float
    requests: int


@dataclass
class Autoscaler:
    platform: Platform
    tick_seconds: float = TICK_SECONDS
    stable_seconds: float = 60.0
    panic_seconds: float = 6.0
    zero_after_seconds: float = 60.0  # the grace period before the last replica stops
    _windows: dict[str, Window] = field(default_factory=dict)
    _active_at: dict[str, float] = field(default_factory=dict)  # app -> last request seen
    _seen: dict[str, int] = field(default_factory=dict)  # app -> replicas at the last tick
    _last: dict[tuple[str, str], _Reading] = field(default_factory=dict)  # (router, key)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            if not self.platform.owns_replicas():
                self._windows.clear()  # a new owner starts its windows afresh
                continue
            try:
                await self.tick(asyncio.get_running_loop().time())
            except Exception:  # the loop must outlive any one failure (a database blip)
                log.exception("autoscaling pass failed")

    def observe(self, now: float) -> dict[str, float]:
        """Average concurrency of every revision key since the last reading, over this
        process's router and every other router process that sends its load."""
        seen: dict[str, float] = {}
        last_readings, self._last = self._last, {}  # revisions the router forgot leave too
        sources = [("", self.platform.router.load())]
        sources += [(sender, load) for sender, (load, _) in self.platform.remote_loads.items()]
        for sender, load in sources:
            for key, (busy, requests) in load.items():
                last = last_readings.get((sender, key))
                self._last[(sender, key)] = _Reading(now, busy, requests)
                if last is None or busy < last.busy or now <= last.at:  # new, or restarted
                    continue
                seen[key] = seen.get(key, 0.0) + (busy - last.busy) / (now - last.at)
        return seen

    async def tick(self, now: float) -> None:
        concurrency = self.observe(now)
        autoscaled: set[str] = set()
        for workspace, app in await self.platform.store.serving_apps():
            if app.max_replicas is None:
                continue
            autoscaled.add(app.id)
            await self._scale(workspace, app, now, concurrency)
        for app_id in set(self._windows) - autoscaled:
            del self._windows[app_id]
            self._active_at.pop(app_id, None)
            self._seen.pop(app_id, None)
            self.platform.autoscaling.pop(app_id, None)

    async def _scale(
        self, workspace: Workspace, app: App, now: float, concurrency: dict[str, float]
    ) -> None:
        scoped = self.platform.store.scoped(workspace.id)
        splits = await scoped.traffic.get(app.id)
        keys = {
            s.revision_name: revision_key(workspace.id, app.id, s.revision_name) for s in splits
        }
        per_revision = {name: concurrency.get(key, 0.0) for name, key in keys.items()}
        window = self._windows.get(app.id)
        if window is None:  # a grace period from the first look, whatever came before
            window = self._windows[app.id] = Window(self.stable_seconds, self.panic_seconds)
            self._active_at[app.id] = now
        observed = sum(per_revision.values())
        window.add(now, observed)
        if observed > 0 or (self._seen.get(app.id) == 0 and app.replicas > 0):
            # A request, or a start from zero by someone else (the activator of a router in
            # another process, whose held requests' load may not have arrived yet): a grace
            # period from now.
            self._active_at[app.id] = now
        self._seen[app.id] = app.replicas
        weighted = [keys[s.revision_name] for s in splits if s.percent > 0]
        ready = sum(self.platform.runtime.status(k).ready for k in weighted)
        bounds = Bounds(app.min_replicas, app.max_replicas or 0, float(app.target_concurrency))
        decision = decide(window, now, ready=ready, current=app.replicas, bounds=bounds)
        idle = now - self._active_at[app.id]
        if decision.desired == 0 and app.replicas > 0 and idle < self.zero_after_seconds:
            decision = replace(  # the last replica waits out the grace period
                decision,
                desired=1,
                reason=f"{decision.reason}; zero after {self.zero_after_seconds:g}s idle",
            )
        elif decision.desired == 0:
            decision = replace(decision, reason=f"no request for {idle:.0f}s: scaled to zero")
        self.platform.autoscaling[app.id] = AutoscaleState(decision, ready, per_revision)
        if decision.desired != app.replicas:
            await self._write(workspace, app, decision, ready)
            self._seen[app.id] = decision.desired  # a start from zero after it is someone's

    async def _write(self, workspace: Workspace, app: App, decision: Decision, ready: int) -> None:
        subject = f"{workspace.name}/{app.name}"
        events.event(
            "autoscaling",
            f"autoscaling {subject}: {app.replicas} -> {decision.desired} replicas "
            f"({decision.reason}; {ready} ready)",
            app=app.id,
            workspace=workspace.id,
            replicas=decision.desired,
            before=app.replicas,
            ready=ready,
            reason=decision.reason,
        )
        scoped = self.platform.store.scoped(workspace.id)
        async with self.platform.app_lock(app.id):
            fresh = await scoped.apps.get(app.id)
            if fresh is None or fresh.max_replicas is None:
                return
            scaled = replace(fresh, replicas=decision.desired)  # desired state, not an edit
            await scoped.apps.update(scaled)
            await reconcile_locked(self.platform, workspace, scaled)
