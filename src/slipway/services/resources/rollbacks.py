"""Rollback (CONTRACT §5): a new deployment that re-deploys the image of an earlier
`succeeded` deployment of the same app, with no build.

The new deployment is stored at `deploying` with `rolledBackFrom`, the target's commit and
image, and runs at once in the background (`pipeline.run_deployment`) rather than waiting for
the worker: new revision, release command again, health check, then 100% of traffic. The
target's image must still be on disk; that is checked before the answer, so a rollback that
cannot work is a 409 rather than a failed deployment. It runs under this process's lease when
this process is the replica owner (`platform.owns_replicas`); any other process (`serve
--role api`, or a worker without the `replicas` lease) leaves it unowned for the owner's
worker to claim (`store/leases.py`).
"""

from __future__ import annotations

from slipway.domain.errors import Conflict
from slipway.domain.ids import new_id
from slipway.domain.models import Deployment, utcnow
from slipway.domain.states import DeploymentStatus as S
from slipway.services.deploy.pipeline import run_deployment
from slipway.services.platform import Platform, events
from slipway.services.resources.deployments import get_deployment


async def rollback(platform: Platform, workspace_id: str, target_id: str) -> Deployment:
    """NotFound for an unknown deployment (or one of another workspace); Conflict when it did
    not succeed or its image is gone."""
    target = await get_deployment(platform, workspace_id, target_id)
    if target.status is not S.SUCCEEDED:
        raise Conflict(
            f"deployment {target.id} is {target.status.value}; only a succeeded deployment "
            "can be rolled back to"
        )
    scoped = platform.store.scoped(workspace_id)
    rev = await scoped.revisions.get_for_deployment(target.id)
    image = await platform.builder.find_image(rev.image_digest) if rev else None
    if rev is None or image is None:
        raise Conflict(f"the image of deployment {target.id} is no longer on disk")
    now = utcnow()
    dep = Deployment(
        id=new_id("dep"),
        workspace_id=workspace_id,
        app_id=target.app_id,
        status=S.DEPLOYING,
        created_at=now,
        started_at=now,
        git_branch=target.git_branch,
        git_commit_sha=target.git_commit_sha,
        git_commit_message=target.git_commit_message,
        buildpack=target.buildpack,
        image_ref=rev.image_ref,  # this workspace's own name for the image
        rolled_back_from=target.id,
    )
    await scoped.deployments.create(dep)
    events.deployment(dep)
    # Run here when this process runs replicas; else the replica owner claims it (leases).
    leases = platform.leases
    if platform.owns_replicas() and await platform.store.acquire_deployment(
        dep.id, owner=leases.owner, lease_seconds=leases.lease_seconds
    ):
        platform.spawn(run_deployment(platform, dep))
    else:
        platform.wake.set()
    return dep
