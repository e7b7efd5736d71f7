"""The deploy worker: takes queued deployments and carries each one through
`building -> deploying -> succeeded | failed`, one at a time per app.

A deployment is `succeeded` only once its revision's replicas pass their health check and the
router sends them traffic (CONTRACT §6). On any failure the revisions that served before keep
serving: traffic moves only after the new revision is healthy. Cancelling a deployment (its
stored status becomes `cancelled`) cancels the task that runs it, which kills the build's
whole process tree.

The order inside `Deploy` is the rollout of CONTRACT §6: image (built, or for a rollback the
target's image found on disk) → `deploying` and a new revision → release command → the
rollout's desired state stored (`rollout_replicas`) → the reconciler starts the replicas,
the pipeline waits until they are healthy → traffic stored and routes applied (the
reconciler, under the app's lock) → `succeeded`. The pipeline never starts, stops or routes
anything itself (`services/serving/reconcile.py` does). A rollback is a `Deploy` of a deployment
created at `deploying`, run at once by `run_deployment` rather than claimed by the worker.
A `deploying` deployment whose process died is claimed again by the replica owner and
resumed from its stored revision and rollout (recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from slipway.domain.errors import DeployFailed
from slipway.domain.models import (
    App,
    Commit,
    Deployment,
    Image,
    Revision,
    Workspace,
    utcnow,
)
from slipway.domain.redact import Redactor
from slipway.domain.states import DeploymentStatus as S
from slipway.domain.states import expect_for
from slipway.domain.traffic import with_deployed
from slipway.ports import RevisionSpec
from slipway.services.deploy.deploylog import DeploymentLog
from slipway.services.deploy.release import run_release
from slipway.services.platform import Platform, events
from slipway.services.platform.leasing import LeaseSettings
from slipway.services.serving.reconcile import (
    load_app,
    reconcile_app,
    revision_spec,
    route_traffic,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
CANCEL_CHECK_SECONDS = 0.5
NO_TRAFFIC_TAG = "candidate"  # a `noTraffic` revision's tag, so it is reachable (decisions.md)


class Worker:
    """Claims deployments under this process's lease (`platform.leases`, `store/leases.py`)
    and runs them. When this process runs replicas now (`platform.owns_replicas()`) it also
    takes `deploying` ones handed over by builders and rollbacks; otherwise it builds and
    hands over."""

    def __init__(self, platform: Platform, *, concurrency: int = 2) -> None:
        self._platform = platform
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Claim and run deployments until cancelled."""
        while True:
            await self._slots.acquire()
            dep = await self._claim()
            if dep is None:
                self._slots.release()
                await self._sleep()
                continue
            task = asyncio.get_running_loop().create_task(self._run_one(dep))
            self._running[dep.id] = task
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        for dep_id, running in list(self._running.items()):
            if running is task:
                del self._running[dep_id]
        self._slots.release()
        self._platform.wake.set()  # the next deployment of that app may now run

    async def _sleep(self) -> None:
        wake = self._platform.wake
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` drops a cancellation
        # that meets the wake-up, and the worker then never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await wake.wait()
        wake.clear()

    async def _claim(self) -> Deployment | None:
        try:
            return await self._platform.store.claim_deployment(
                owner=self._platform.leases.owner,
                lease_seconds=self._platform.leases.lease_seconds,
                handovers=self._platform.owns_replicas(),
                builds_per_workspace=self._platform.settings.builds_per_workspace,
            )
        except Exception:
            log.exception("could not claim a deployment")
            return None

    async def _run_one(self, dep: Deployment) -> None:
        await run_deployment(self._platform, dep, rollout=self._platform.owns_replicas())

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


async def run_deployment(platform: Platform, dep: Deployment, *, rollout: bool = True) -> None:
    """Run one deployment (leased by the caller to `platform.leases.owner`), renewing the
    lease, and cancelling the run as soon as its stored status becomes `cancelled` or the
    lease is lost (recovery took it back from a worker it thought dead)."""
    leases = platform.leases
    loop = asyncio.get_running_loop()
    job = loop.create_task(Deploy(platform, dep, rollout=rollout).run())
    renew_at = loop.time() + leases.renew_every
    try:
        while not job.done():
            await asyncio.wait({job}, timeout=CANCEL_CHECK_SECONDS)
            if job.done():
                break
            due = loop.time() >= renew_at
            if due:
                renew_at = loop.time() + leases.renew_every
            if await _should_stop(platform, dep, leases, renew=due):
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
    except asyncio.CancelledError:  # the worker (or the platform) is stopping
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        raise
    except Exception:
        log.exception("deployment %s: worker error", dep.id)
    finally:
        platform.logs.close(dep.id)
        platform.wake.set()  # the next deployment of that app may now run


async def _should_stop(
    platform: Platform, dep: Deployment, leases: LeaseSettings, *, renew: bool
) -> bool:
    """Cancelled, deleted, or (when renewing) no longer ours while still active."""
    if renew:
        held = await platform.store.renew_deployment(
            dep.id, owner=leases.owner, lease_seconds=leases.lease_seconds
        )
        if held:
            return False
    current = await platform.store.scoped(dep.workspace_id).deployments.get(dep.id)
    if current is None or current.status == S.CANCELLED:
        return True
    return renew and current.status.active  # our lease is gone: someone else runs it


class Deploy:
    """One deployment's run, from `building` (or `deploying`, for a rollback or a resumed
    or handed-over build) to the end. With `rollout=False` (a builder that runs no
    replicas) it stops after the revision is stored and hands the deployment over."""

    def __init__(self, platform: Platform, dep: Deployment, *, rollout: bool = True) -> None:
        self.platform = platform
        self.dep = dep
        self.rollout = rollout
        self.scoped = platform.store.scoped(dep.workspace_id)
        self.log = DeploymentLog(platform, self.scoped, dep.id)
        self.revision: Revision | None = None
        self.source: Revision | None = None  # a rollback's target revision
        self.subject: str | None = None  # "workspace/app", for the event log

    async def run(self) -> None:
        await self.log.start()
        try:
            workspace, app = await self._load()
            self.subject = f"{workspace.name}/{app.name}"
            if self.dep.status == S.BUILDING:
                events.deployment(self.dep, self.subject)
            self.log.redact = Redactor.for_env(app.env)  # build and release output, errors
            self.revision = await self.scoped.revisions.get_for_deployment(self.dep.id)
            image = await self._image(workspace, app)
            await self._deploying(image)
            if self.revision is None:
                self.revision = await self._create_revision(app, image)
            if not self.rollout:
                await self._hand_over()
                return
            self.log.redact = Redactor.for_env(app.env, self.revision.env)
            spec = await revision_spec(self.platform, workspace, app, self.revision)
            if spec is None:
                raise DeployFailed("the built image could not be found on disk.")
            if self.dep.rollout_replicas is None:
                await run_release(self.platform, spec, app.release_command, log=self.log)
                await self._want_replicas(max(app.replicas, 1))
            else:
                await self.log("[deploy] Resuming the rollout (the release phase already ran)")
            await self._roll_out(workspace, spec)
        except asyncio.CancelledError:
            await self._clean_up_after_failure()
            raise
        except DeployFailed as exc:
            await self._fail(str(exc))
        except Exception as exc:
            log.exception("deployment %s failed unexpectedly", self.dep.id)
            await self._fail(f"Slipway hit an internal error ({type(exc).__name__}).")
        finally:
            await asyncio.shield(self.log.flush())

    async def _settle(self, dep: Deployment) -> bool:
        """Store `dep` (a status change, or a field of the deployment as it is), after every
        log line written so far: a client that sees the new status finds the log that led
        to it. A compare-and-set against the statuses the state machine allows."""
        await self.log.flush()
        expect = expect_for(self.dep.status, dep.status)
        stored = await self.scoped.deployments.update(dep, expect=expect)
        if stored and dep.status != self.dep.status:
            events.deployment(dep, self.subject)
        return stored

    async def _load(self) -> tuple[Workspace, App]:
        workspace = await self.platform.store.workspaces.get(self.dep.workspace_id)
        app = await self.scoped.apps.get(self.dep.app_id)
        if workspace is None or app is None:
            raise DeployFailed("the app was deleted before its deployment ran.")
        return workspace, app

    async def _image(self, workspace: Workspace, app: App) -> Image:
        if self.revision is not None:  # resumed or handed over: the image was made already
            image = await self.platform.builder.find_image(self.revision.image_digest)
            if image is None:
                raise DeployFailed("the image of this deployment's revision is gone.")
            return image
        if self.dep.rolled_back_from is not None and self.dep.image_ref is not None:
            source = await self.scoped.deployments.get(self.dep.rolled_back_from)
            rev = await self.scoped.revisions.get_for_deployment(source.id) if source else None
            image = await self.platform.builder.find_image(rev.image_digest) if rev else None
            self.source = rev
            if image is None:
                raise DeployFailed("the image of the deployment to roll back to is gone.")
            return image
        if self.dep.git_commit_sha is None:
            raise DeployFailed("the deployment has no commit to build.")
        commit = Commit(
            self.dep.git_branch, self.dep.git_commit_sha, self.dep.git_commit_message or ""
        )
        return await self.platform.builder.build(
            workspace=workspace, app=app, commit=commit, log=self.log
        )

    async def _deploying(self, image: Image) -> None:
        if self.dep.status == S.DEPLOYING:
            return
        moved = replace(self.dep, status=S.DEPLOYING, image_ref=image.ref)
        if not await self._settle(moved):
            raise asyncio.CancelledError
        self.dep = moved

    async def _create_revision(self, app: App, image: Image) -> Revision:
        """The new revision freezes the app's settings; a rollback's freezes the target's
        (its start command, env and health check: the old version exactly as it ran)."""
        settings = self.source
        start = settings.start_command if settings else app.start_command or image.start_command
        if not start:  # the image was built while the app named one; it no longer does
            raise DeployFailed("no start command was found: set one or add a Procfile.")
        rev = await self.scoped.revisions.create(
            Revision(
                workspace_id=app.workspace_id,
                app_id=app.id,
                name="",
                number=0,
                deployment_id=self.dep.id,
                image_ref=settings.image_ref if settings else image.ref,  # the app's own name
                image_digest=image.digest,
                start_command=start,
                env=dict(settings.env if settings else app.env),
                health_check_path=settings.health_check_path if settings else app.health_check_path,
                memory_mb=settings.memory_mb if settings else app.memory_mb,
                created_at=utcnow(),
            )
        )
        named = replace(self.dep, revision_name=rev.name)
        if not await self._settle(named):  # cancelled meanwhile: never write it back
            raise asyncio.CancelledError
        self.dep = named
        await self.log(f"[deploy] Created revision {rev.name}")
        return rev

    async def _hand_over(self) -> None:
        """A builder without replicas: the process that runs them takes it from here."""
        await self.log("[deploy] Built; the rollout waits for the process that runs replicas")
        await self.log.flush()
        owner = await self.platform.store.release_deployment(
            self.dep.id, owner=self.platform.leases.owner
        )
        if not owner:
            log.warning("deployment %s: lease lost before the hand-over", self.dep.id)

    async def _want_replicas(self, count: int) -> None:
        """The rollout's desired state, stored: the new revision runs `count` replicas until
        it is in the traffic list. From here on a rollout cut short is resumed, not
        failed, and the release phase is over."""
        wanted = replace(self.dep, rollout_replicas=count)
        if not await self._settle(wanted):
            raise asyncio.CancelledError
        self.dep = wanted

    async def _reconcile(self) -> None:
        """Ask the reconciler to make the runtime and routes match the stored state."""
        found = await load_app(self.platform, self.dep.workspace_id, self.dep.app_id)
        if found is not None:  # a deleted app was forgotten already
            await reconcile_app(self.platform, *found)

    async def _roll_out(self, workspace: Workspace, spec: RevisionSpec) -> None:
        """The reconciler starts the replicas the stored rollout asks for; once they are
        healthy, traffic moves; then the deployment has succeeded."""
        name = spec.revision
        count = self.dep.rollout_replicas or 1
        await self.log(f"[deploy] Starting {count} replica(s) of {name}")
        await self._reconcile()
        timeout = self.platform.settings.health_timeout_seconds
        await self.platform.runtime.wait_ready(spec.key, count, timeout=timeout)
        await self.log(f"[deploy] {name} is healthy")
        await self._take_traffic(workspace, spec)
        done = replace(self.dep, status=S.SUCCEEDED, finished_at=utcnow())
        if not await self._settle(done):
            raise asyncio.CancelledError
        self.dep = done
        await self.log(f"[deploy] Deployment succeeded: {name} is serving")

    async def _take_traffic(self, workspace: Workspace, spec: RevisionSpec) -> None:
        """100% to the new revision, other tagged revisions kept at 0%; or, for `noTraffic`,
        percents unchanged and the new revision at 0% under the `candidate` tag. The routes
        are live before the deployment is called `succeeded`."""
        take = not self.dep.no_traffic
        async with self.platform.app_lock(self.dep.app_id):
            app = await self.scoped.apps.get(self.dep.app_id)
            if app is None:
                raise DeployFailed("the app was deleted before its deployment ran.")
            old = await self.scoped.traffic.get(app.id)
            tag = None if take else NO_TRAFFIC_TAG
            new = with_deployed(old, spec.revision, take_traffic=take, tag=tag)
            await route_traffic(self.platform, workspace, app, new, before=old)
        if take:
            await self.log(f"[deploy] Routing 100% of traffic to {spec.revision}")
        else:
            await self.log(f"[deploy] No traffic moved; {spec.revision} is tagged {tag}")

    async def _fail(self, error: str) -> None:
        error = self.log.redact(error)
        first, *output = error.split("\n")  # a failed start's last lines of output follow
        await self.log(f"[deploy] Deployment failed: {first}")
        for line in output:
            await self.log(f"[app] {line}")
        if not self.dep.status.terminal:  # an error after the end changes nothing
            failed = replace(self.dep, status=S.FAILED, error=error, finished_at=utcnow())
            await self._settle(failed)
        await self._clean_up_after_failure()

    async def _clean_up_after_failure(self) -> None:
        """A deployment that ended without succeeding (failed, cancelled) no longer wants
        its revision: the reconciler retires it unless it already takes traffic. One cut
        short while still `deploying` (this process stopping, its lease lost) keeps its
        stored rollout for whoever resumes it."""
        if self.revision is None:
            return
        stored = await asyncio.shield(self.scoped.deployments.get(self.dep.id))
        if stored is None or stored.status.terminal:
            await asyncio.shield(self._reconcile())
