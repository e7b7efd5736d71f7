"""Helpers of the traffic, scale and rollback API tests: a runtime whose replicas are ready
at once (no process is started here; the e2e tests run real ones), a builder that knows the
images the tests seed, and finished deployments with their revisions written to the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from api_helpers import NullRouter

from slipway.domain.errors import DeployFailed
from slipway.domain.ids import new_id
from slipway.domain.models import App, Commit, Deployment, Image, Revision, Workspace, utcnow
from slipway.domain.routes import Backend
from slipway.domain.states import DeploymentStatus
from slipway.ports import LogSink, ReplicaStatus, RevisionSpec, Store


class InstantRuntime:
    """Replicas exist and are ready the moment they are asked for; `broken` revisions (by
    name) never become ready. Records every call."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.broken: set[str] = set()
        self.calls: list[tuple[str, str, int]] = []
        self.released: list[tuple[str, str]] = []
        self.release_status = 0

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        self.calls.append(("scale", spec.revision, replicas))
        self.counts[spec.key] = replicas

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        if key.rsplit("/", 1)[1] in self.broken:
            raise DeployFailed("the app exited with status 1 before becoming healthy")

    def status(self, key: str) -> ReplicaStatus:
        n = self.counts.get(key, 0)
        ready = 0 if key.rsplit("/", 1)[1] in self.broken else n
        backends = tuple(Backend("127.0.0.1", 9000 + i) for i in range(ready))
        return ReplicaStatus(ready=ready, total=n, backends=backends)

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        self.calls.append(("stop", key.rsplit("/", 1)[1], 0))
        self.counts.pop(key, None)

    def on_change(self, callback: Callable[[str], None]) -> None:
        pass

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        pass

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        self.released.append((spec.revision, command))
        await log(f"ran {command}")
        return self.release_status

    async def close(self) -> None:
        pass


class RecordingRouter(NullRouter):
    """Keeps only the routes the app has now."""

    def remove_app(self, app_id: str) -> None:
        self.routes.pop(app_id, None)


class ImageShelf:
    """A builder that builds nothing and finds the images the tests put on its shelf."""

    def __init__(self) -> None:
        self.images: dict[str, Image] = {}

    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        raise AssertionError("these tests build nothing")

    async def find_image(self, digest: str) -> Image | None:
        return self.images.get(digest)


async def seed_revision(
    store: Store,
    shelf: ImageShelf,
    *,
    workspace_id: str,
    app_id: str,
    status: DeploymentStatus = DeploymentStatus.SUCCEEDED,
    on_disk: bool = True,
) -> tuple[Deployment, Revision]:
    """A finished deployment of the app and its revision, as the pipeline leaves them."""
    scoped = store.scoped(workspace_id)
    n = len(await scoped.revisions.list(app_id)) + 1
    digest = "sha256:" + f"{n:064x}"
    now = utcnow()
    dep = Deployment(
        id=new_id("dep"), workspace_id=workspace_id, app_id=app_id, status=status,
        created_at=now, started_at=now, finished_at=now, git_branch="main",
        git_commit_sha=f"{n:040x}", git_commit_message=f"commit {n}",
        image_ref=f"local/x/app:sha256-{n:012x}",
    )  # fmt: skip
    await scoped.deployments.create(dep)
    rev = await scoped.revisions.create(
        Revision(
            workspace_id=workspace_id, app_id=app_id, name="", number=0, deployment_id=dep.id,
            image_ref=dep.image_ref or "", image_digest=digest, start_command="python3 main.py",
            env={"V": str(n)}, health_check_path=None, created_at=now,
        )
    )  # fmt: skip
    dep.revision_name = rev.name
    await scoped.deployments.update(dep)
    if on_disk:
        shelf.images[digest] = Image(
            ref=dep.image_ref or "", digest=digest, start_command="python3 main.py",
            path="/nonexistent", app_dir="/nonexistent",
        )  # fmt: skip
    return dep, rev
