"""Deployments: trigger, list, read, cancel, build logs and runtime status (CONTRACT §5).

The API answers from the store; the worker (`slipway.services.deploy.pipeline`) does the work.
`trigger` and `cancel` only change stored state and set `platform.wake`, so the worker looks
at once. A malformed id is answered like an unknown one (404), never 422.

One workspace cannot hold the API or the queue (issue 11): `trigger` answers 429 (with
`Retry-After`) when the workspace already has `max_queued_per_workspace` deployments
waiting, or `max_resolving_per_workspace` commits being resolved in this process; resolving
itself is bounded by the git source's deadline (504 past it, nothing stored).
"""

from __future__ import annotations

from dataclasses import replace

from slipway.domain.errors import Conflict, FieldError, NotFound, TooBusy, raise_if
from slipway.domain.ids import is_id, new_id
from slipway.domain.models import App, Commit, Deployment, utcnow
from slipway.domain.names import branch_problem
from slipway.domain.states import DeploymentStatus, can_transition
from slipway.services.platform import Platform, events
from slipway.services.resources.apps import get_app
from slipway.services.resources.paging import Page, offset_of, page_problems
from slipway.services.resources.runtimestatus import RuntimeStatus, describe

_SHA_CHARS = frozenset("0123456789abcdef")
_CAS_ATTEMPTS = 5


def _ref_problems(git_branch: str | None, git_commit_sha: str | None) -> list[FieldError]:
    errors = []
    if git_branch is not None:
        problem = branch_problem(git_branch)
        if problem:
            errors.append(FieldError("gitBranch", problem))
    if git_commit_sha is not None and not (
        7 <= len(git_commit_sha) <= 40 and set(git_commit_sha.lower()) <= _SHA_CHARS
    ):
        errors.append(FieldError("gitCommitSha", "must be 7 to 40 hexadecimal characters"))
    return errors


async def trigger(
    platform: Platform,
    workspace_id: str,
    app_id: str,
    *,
    git_branch: str | None = None,
    git_commit_sha: str | None = None,
    no_traffic: bool = False,
) -> Deployment:
    """Resolve the commit (sha > branch > the app's branch) and queue a deployment of it.

    NotFound for an unknown app; Invalid for a bad, unknown branch or commit."""
    app = await get_app(platform, workspace_id, app_id)
    raise_if(_ref_problems(git_branch, git_commit_sha))
    sha = git_commit_sha.lower() if git_commit_sha else None
    settings, scoped = platform.settings, platform.store.scoped(workspace_id)
    if await scoped.deployments.count(DeploymentStatus.QUEUED) >= settings.max_queued_per_workspace:
        raise TooBusy(
            f"this workspace already has {settings.max_queued_per_workspace} deployments "
            "waiting; try again once some have started.",
            retry_after=10,
        )
    commit = await _resolve(platform, workspace_id, app, git_branch, sha)
    if app.git_branch is None and git_branch is None and commit.branch:
        await scoped.apps.record_branch(app.id, commit.branch)  # the repository's HEAD
    dep = Deployment(
        id=new_id("dep"),
        workspace_id=workspace_id,
        app_id=app.id,
        status=DeploymentStatus.QUEUED,
        created_at=utcnow(),
        git_branch=commit.branch or git_branch or app.git_branch,
        git_commit_sha=commit.sha,
        git_commit_message=commit.message,
        buildpack=app.buildpack,
        no_traffic=no_traffic,
    )
    await platform.store.scoped(workspace_id).deployments.create(dep)
    events.deployment(dep, await _subject(platform, app))
    platform.wake.set()
    return dep


async def _subject(platform: Platform, app: App) -> str:
    """ "workspace/app", for the event log."""
    workspace = await platform.store.workspaces.get(app.workspace_id)
    return f"{workspace.name if workspace else app.workspace_id}/{app.name}"


async def _resolve(
    platform: Platform, workspace_id: str, app: App, branch: str | None, sha: str | None
) -> Commit:
    """The commit, resolved under the workspace's cap of resolutions at once."""
    resolving = platform.resolving
    if resolving.get(workspace_id, 0) >= platform.settings.max_resolving_per_workspace:
        raise TooBusy("this workspace is already resolving commits; try again in a moment.")
    resolving[workspace_id] = resolving.get(workspace_id, 0) + 1
    try:
        return await platform.source.resolve(app, branch=branch, sha=sha)
    finally:
        left = resolving[workspace_id] - 1
        if left:
            resolving[workspace_id] = left
        else:
            del resolving[workspace_id]


def _list_problems(
    app_id: str | None, status: str | None, page: int, limit: int
) -> list[FieldError]:
    errors = [] if app_id else [FieldError("appId", "is required")]
    errors += page_problems(page, limit)
    if status is not None and status not in DeploymentStatus.__members__.values():
        allowed = ", ".join(s.value for s in DeploymentStatus)
        errors.append(FieldError("status", f"must be one of: {allowed}"))
    return errors


async def list_deployments(
    platform: Platform,
    workspace_id: str,
    *,
    app_id: str | None,
    page: int = 1,
    limit: int = 20,
    status: str | None = None,
) -> Page[Deployment]:
    """One page of an app's deployments, newest first, optionally of one status."""
    raise_if(_list_problems(app_id, status, page, limit))
    app = await get_app(platform, workspace_id, str(app_id))
    items, total = await platform.store.scoped(workspace_id).deployments.list(
        app_id=app.id,
        status=DeploymentStatus(status) if status else None,
        offset=offset_of(page, limit),
        limit=limit,
    )
    return Page(items=items, total=total, page=page, limit=limit)


async def get_deployment(platform: Platform, workspace_id: str, deployment_id: str) -> Deployment:
    dep = None
    if is_id(deployment_id, "dep"):
        dep = await platform.store.scoped(workspace_id).deployments.get(deployment_id)
    if dep is None:
        known = is_id(deployment_id, "dep")
        raise NotFound(f"deployment {deployment_id} not found" if known else "deployment not found")
    return dep


async def cancel(platform: Platform, workspace_id: str, deployment_id: str) -> Deployment:
    """queued/building/deploying -> cancelled; Conflict when already finished.

    Compare-and-set against the status read, so a worker's concurrent move is never lost:
    on a lost race the deployment is read again and the decision made again."""
    deployments = platform.store.scoped(workspace_id).deployments
    for _ in range(_CAS_ATTEMPTS):
        dep = await get_deployment(platform, workspace_id, deployment_id)
        if not can_transition(dep.status, DeploymentStatus.CANCELLED):
            raise Conflict(f"deployment {dep.id} already finished ({dep.status.value})")
        done = replace(dep, status=DeploymentStatus.CANCELLED, finished_at=utcnow())
        # Against the status read, not every source: a move made meanwhile means deciding
        # again on what it became.
        if await deployments.update(done, expect=frozenset({dep.status})):
            events.deployment(done)
            platform.wake.set()
            return done
    raise Conflict(f"deployment {deployment_id} is changing state; try again")


async def build_logs(platform: Platform, workspace_id: str, deployment_id: str) -> list[str]:
    """Every build and release log line so far (`[]` before the build starts)."""
    dep = await get_deployment(platform, workspace_id, deployment_id)
    return await platform.store.scoped(workspace_id).logs.list(dep.id)


async def runtime_status(
    platform: Platform, workspace_id: str, deployment_id: str
) -> RuntimeStatus:
    """The replicas of the deployment's revision; see `slipway.services.resources.runtimestatus`."""
    dep = await get_deployment(platform, workspace_id, deployment_id)
    app = await get_app(platform, workspace_id, dep.app_id)
    scoped = platform.store.scoped(workspace_id)
    splits = await scoped.traffic.get(app.id)
    return describe(
        platform.runtime,
        dep,
        app,
        splits,
        transitions=platform.transitions,
        autoscale=platform.autoscaling.get(app.id),
        activation=platform.activations.get(app.id),
        domains=await scoped.domains.list(app.id),
    )
