"""Stored state the control-loop and API tests start from, as the pipeline leaves it."""

from __future__ import annotations

from tests.support.fakes import ImageShelf

from slipway.domain.ids import new_id
from slipway.domain.models import Deployment, Revision, utcnow
from slipway.domain.states import DeploymentStatus
from slipway.ports import Store


async def seed_revision(
    store: Store,
    shelf: ImageShelf,
    *,
    workspace_id: str,
    app_id: str,
    status: DeploymentStatus = DeploymentStatus.SUCCEEDED,
    rollout_replicas: int | None = None,
    on_disk: bool = True,
) -> tuple[Deployment, Revision]:
    """A deployment of the app at `status` with its revision (the app's next number), its
    image on the shelf unless `on_disk` is false."""
    scoped = store.scoped(workspace_id)
    n = len(await scoped.revisions.list(app_id)) + 1
    image = shelf.shelve(n)
    if not on_disk:
        del shelf.images[image.digest]
    now = utcnow()
    dep = Deployment(
        id=new_id("dep"), workspace_id=workspace_id, app_id=app_id, status=status,
        created_at=now, started_at=now, finished_at=now if status.terminal else None,
        git_branch="main", git_commit_sha=f"{n:040x}", git_commit_message=f"commit {n}",
        image_ref=image.ref, rollout_replicas=rollout_replicas,
    )  # fmt: skip
    await scoped.deployments.create(dep)
    rev = await scoped.revisions.create(
        Revision(
            workspace_id=workspace_id, app_id=app_id, name="", number=0, deployment_id=dep.id,
            image_ref=image.ref, image_digest=image.digest, start_command="python3 main.py",
            env={"V": str(n)}, health_check_path=None, created_at=now,
        )
    )  # fmt: skip
    dep.revision_name = rev.name
    await scoped.deployments.update(dep)
    return dep, rev
