"""The deploy worker: takes queued deployments and carries each one through
`building -> deploying -> succeeded | failed`, one at a time per app.

A deployment is `succeeded` only once its revision's replicas pass their health check and the
router sends them traffic (CONTRACT §6). On any failure the revisions that served before keep
serving: traffic moves only after the new revision is healthy. Cancelling a deployment (its
stored status becomes `cancelled`) cancels the task that runs it, which kills the build's
whole process tree.
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
    TrafficSplit,
    Workspace,
    utcnow,
)
from slipway.domain.states import DeploymentStatus as S
from slipway.ports import ScopedStore
from slipway.services.platform import Platform
from slipway.services.reconcile import reconcile_app, revision_spec
from slipway.services.routing import revision_key

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
CANCEL_CHECK_SECONDS = 0.5


class BuildLog:
    """The LogSink of one deployment: every line goes to the store and to live watchers."""

    def __init__(self, platform: Platform, scoped: ScopedStore, deployment_id: str) -> None:
        self._platform = platform
        self._scoped = scoped
        self._id = deployment_id
        self._next = 0

    async def start(self) -> None:
        self._next = len(await self._scoped.logs.list(self._id))

    async def __call__(self, line: str) -> None:
        index, self._next = self._next, self._next + 1
        await self._scoped.logs.append(self._id, index, [line])
        self._platform.logs.publish(self._id, index, [line])


class Worker:
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), POLL_SECONDS)
        wake.clear()

    async def _claim(self) -> Deployment | None:
        try:
            while True:
                dep = await self._platform.store.next_runnable_deployment()
                if dep is None:
                    return None
                started = replace(dep, status=S.BUILDING, started_at=utcnow())
                scoped = self._platform.store.scoped(dep.workspace_id)
                if await scoped.deployments.update(started, expect=frozenset({S.QUEUED})):
                    return started
        except Exception:
            log.exception("could not claim a deployment")
            return None

    async def _run_one(self, dep: Deployment) -> None:
        scoped = self._platform.store.scoped(dep.workspace_id)
        job = asyncio.get_running_loop().create_task(Deploy(self._platform, dep).run())
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=CANCEL_CHECK_SECONDS)
                current = await scoped.deployments.get(dep.id)
                if current is None or current.status == S.CANCELLED:
                    job.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await job
        except asyncio.CancelledError:  # the worker itself is stopping
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            raise
        except Exception:
            log.exception("deployment %s: worker error", dep.id)
        finally:
            self._platform.logs.close(dep.id)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


class Deploy:
    """One deployment's run, from `building` (or `deploying`, for a rollback) to the end."""

    def __init__(self, platform: Platform, dep: Deployment) -> None:
        self.platform = platform
        self.dep = dep
        self.scoped = platform.store.scoped(dep.workspace_id)
        self.log = BuildLog(platform, self.scoped, dep.id)
        self.revision: Revision | None = None

    async def run(self) -> None:
        await self.log.start()
        try:
            workspace, app = await self._load()
            image = await self._image(workspace, app)
            await self._deploying(image)
            self.revision = await self._create_revision(app, image)
            await self._roll_out(workspace, app, self.revision)
        except asyncio.CancelledError:
            await self._clean_up_after_failure()
            raise
        except DeployFailed as exc:
            await self._fail(str(exc))
        except Exception as exc:
            log.exception("deployment %s failed unexpectedly", self.dep.id)
            await self._fail(f"Slipway hit an internal error ({type(exc).__name__}).")

    async def _load(self) -> tuple[Workspace, App]:
        workspace = await self.platform.store.workspaces.get(self.dep.workspace_id)
        app = await self.scoped.apps.get(self.dep.app_id)
        if workspace is None or app is None:
            raise DeployFailed("the app was deleted before its deployment ran.")
        return workspace, app

    async def _image(self, workspace: Workspace, app: App) -> Image:
        if self.dep.rolled_back_from is not None and self.dep.image_ref is not None:
            source = await self.scoped.deployments.get(self.dep.rolled_back_from)
            rev = await self.scoped.revisions.get_for_deployment(source.id) if source else None
            image = await self.platform.builder.find_image(rev.image_digest) if rev else None
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
        if not await self.scoped.deployments.update(moved, expect=frozenset({S.BUILDING})):
            raise asyncio.CancelledError
        self.dep = moved

    async def _create_revision(self, app: App, image: Image) -> Revision:
        rev = await self.scoped.revisions.create(
            Revision(
                workspace_id=app.workspace_id,
                app_id=app.id,
                name="",
                number=0,
                deployment_id=self.dep.id,
                image_ref=image.ref,
                image_digest=image.digest,
                start_command=app.start_command or image.start_command,
                env=dict(app.env),
                health_check_path=app.health_check_path,
                created_at=utcnow(),
            )
        )
        self.dep = replace(self.dep, revision_name=rev.name)
        await self.scoped.deployments.update(self.dep)
        await self.log(f"[deploy] Created revision {rev.name}")
        return rev

    async def _roll_out(self, workspace: Workspace, app: App, rev: Revision) -> None:
        spec = await revision_spec(self.platform, rev)
        if spec is None:
            raise DeployFailed("the built image could not be found on disk.")
        replicas = max(app.replicas, 1)
        await self.log(f"[deploy] Starting {replicas} replica(s) of {rev.name}")
        await self.platform.runtime.scale(spec, replicas)
        timeout = self.platform.settings.health_timeout_seconds
        await self.platform.runtime.wait_ready(spec.key, replicas, timeout=timeout)
        await self.log(f"[deploy] {rev.name} is healthy")
        if not self.dep.no_traffic:
            await self._take_traffic(app, rev)
        done = replace(self.dep, status=S.SUCCEEDED, finished_at=utcnow())
        if not await self.scoped.deployments.update(done, expect=frozenset({S.DEPLOYING})):
            raise asyncio.CancelledError
        self.dep = done
        current = await self.scoped.apps.get(app.id)
        await reconcile_app(self.platform, workspace, current or app)
        await self.log(f"[deploy] Deployment succeeded: {rev.name} is serving")

    async def _take_traffic(self, app: App, rev: Revision) -> None:
        """100% to the new revision; tagged revisions keep their tags at 0%."""
        old = await self.scoped.traffic.get(app.id)
        kept = [TrafficSplit(s.revision_name, 0, s.tag) for s in old if s.tag]
        kept = [s for s in kept if s.revision_name != rev.name]
        await self.scoped.traffic.set(app.id, [TrafficSplit(rev.name, 100), *kept])
        await self.log(f"[deploy] Routing 100% of traffic to {rev.name}")

    async def _fail(self, error: str) -> None:
        await self.log(f"[deploy] Deployment failed: {error}")
        failed = replace(self.dep, status=S.FAILED, error=error, finished_at=utcnow())
        await self.scoped.deployments.update(failed, expect=frozenset({S.BUILDING, S.DEPLOYING}))
        await self._clean_up_after_failure()

    async def _clean_up_after_failure(self) -> None:
        """Stop the new revision's replicas unless it already takes traffic."""
        if self.revision is None:
            return
        splits = await self.scoped.traffic.get(self.dep.app_id)
        if any(s.revision_name == self.revision.name for s in splits):
            return
        key = revision_key(self.dep.workspace_id, self.dep.app_id, self.revision.name)
        await asyncio.shield(self.platform.runtime.stop(key))


async def fail_interrupted(platform: Platform) -> None:
    """At start-up: a deployment left `building` or `deploying` by a stopped platform cannot
    resume (its build process died with it), so it fails with a reason instead of hanging."""
    for dep in await platform.store.active_deployments():
        failed = replace(
            dep,
            status=S.FAILED,
            error="the platform stopped while this deployment was running; trigger it again.",
            finished_at=utcnow(),
        )
        scoped = platform.store.scoped(dep.workspace_id)
        await scoped.deployments.update(failed, expect=frozenset({S.BUILDING, S.DEPLOYING}))
