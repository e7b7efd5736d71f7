"""Recovery: no deployment stays non-terminal after its worker died, and the runtime comes
back to what the store says, after any crash.

Level-triggered, like `reconcile.py`: nothing here remembers what happened before a crash;
it reads the store and acts on what it finds.

- A deployment whose lease expired (`store/leases.py`) is taken back:
  `building` -> `queued` again, with a log line: the build re-runs from the commit (its
  processes died with the worker; the image cache makes finished steps cheap).
  `deploying` -> `succeeded` if its revision already carries the traffic it was to take
  (the worker died after the routes changed); else it stays `deploying` without an owner,
  with a log line, and the replica owner's worker claims it and resumes the rollout from
  its stored revision and desired state (`pipeline.Deploy`): the release command runs
  again only if it had not finished.
- `LeaseSweeper.run` repeats that every `SWEEP_SECONDS`, and, in the process that runs
  replicas, has the reconciler bring every app with traffic to its desired replicas and
  routes (`restore_all`) every `RESTORE_SECONDS` (a resync, in Knative's manner): replicas
  that died with a previous process (bubblewrap's `--die-with-parent`) are started again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

from slipway.domain.models import Deployment, utcnow
from slipway.domain.states import DeploymentStatus as S
from slipway.domain.states import expect_for
from slipway.services.platform import Platform
from slipway.services.platform.leasing import LeaseSettings
from slipway.services.serving.reconcile import restore_all

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
RESTORE_SECONDS = 5.0
REQUEUED_LINE = "[deploy] The worker running this build stopped; the build is queued again"
RESUMED_LINE = (
    "[deploy] The process rolling this deployment out stopped; the process that runs "
    "replicas resumes it"
)


async def recover_expired(platform: Platform, leases: LeaseSettings) -> int:
    """Take back every deployment whose worker is dead; returns how many."""
    store = platform.store
    other_than = leases.owner if store.single_process else None
    now = datetime.now(UTC)
    taken = 0
    for dep in await store.expired_deployments(now=now, other_than=other_than):
        try:
            if dep.status == S.DEPLOYING and await _finished_rollout(platform, dep):
                taken += 1
            elif await store.requeue_deployment(dep.id, now=now, other_than=other_than):
                building = dep.status == S.BUILDING
                await _log_line(platform, dep, REQUEUED_LINE if building else RESUMED_LINE)
                platform.wake.set()
                taken += 1
        except Exception:  # one bad row must not stop the others
            log.exception("could not recover deployment %s", dep.id)
    return taken


async def _finished_rollout(platform: Platform, dep: Deployment) -> bool:
    """`deploying -> succeeded` when the revision already has the traffic it was to take
    (its process died after the routes changed, before it said so)."""
    scoped = platform.store.scoped(dep.workspace_id)
    splits = await scoped.traffic.get(dep.app_id)
    serving = any(
        s.revision_name == dep.revision_name and (s.percent > 0 or dep.no_traffic) for s in splits
    )
    if not serving:
        return False
    done = replace(dep, status=S.SUCCEEDED, finished_at=utcnow())
    if not await scoped.deployments.update(done, expect=expect_for(dep.status, done.status)):
        return False
    await _log_line(platform, dep, f"[deploy] Deployment succeeded: {dep.revision_name} is serving")
    return True


async def _log_line(platform: Platform, dep: Deployment, line: str) -> None:
    logs = platform.store.scoped(dep.workspace_id).logs
    try:
        await logs.append(dep.id, len(await logs.list(dep.id)), [line])
    except Exception:  # a late line of the dead worker took the index: the log stays whole
        log.warning("deployment %s: recovery log line not stored", dep.id)


class LeaseSweeper:
    """The loop of one process: take back dead workers' deployments; and where this process
    runs the replicas (`platform.owns_replicas()`), have the reconciler resync every app."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def start_up(self) -> None:
        """Before the API answers: recover, then restart replicas (if leading)."""
        await recover_expired(self._platform, self._platform.leases)
        if self._platform.owns_replicas():
            await restore_all(self._platform)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        restore_at = loop.time() + RESTORE_SECONDS
        was_leading = self._platform.owns_replicas()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await recover_expired(self._platform, self._platform.leases)
                leading = self._platform.owns_replicas()
                if leading and (not was_leading or loop.time() >= restore_at):
                    restore_at = loop.time() + RESTORE_SECONDS
                    await restore_all(self._platform)
                was_leading = leading
            except Exception:  # the loop must outlive any one failure (a database blip)
                log.exception("reconcile pass failed")
