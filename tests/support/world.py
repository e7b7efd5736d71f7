"""A platform made of the fakes over a real SQLite store, and the state the control-loop
tests start from: revisions (with their deployments), traffic, replicas already running."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.fakes import FakeRouter, FakeRuntime, FaultyStore, ImageShelf
from tests.support.seeds import seed_revision

from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos
from slipway.domain.ids import new_id
from slipway.domain.models import App, Deployment, Revision, TrafficSplit, Workspace, utcnow
from slipway.domain.revisionkeys import revision_key
from slipway.domain.states import DeploymentStatus
from slipway.ports import ScopedStore
from slipway.services.platform import Platform
from slipway.store import SqlStore


@dataclass
class World:
    platform: Platform
    store: FaultyStore
    runtime: FakeRuntime
    router: FakeRouter
    shelf: ImageShelf
    workspace: Workspace
    app: App

    @property
    def scoped(self) -> ScopedStore:
        """The real store's repositories: a test's own reads never meet induced faults."""
        return self.store.real.scoped(self.workspace.id)

    def key(self, revision: str) -> str:
        return revision_key(self.workspace.id, self.app.id, revision)

    async def fresh_app(self) -> App:
        app = await self.scoped.apps.get(self.app.id)
        assert app is not None
        return app

    async def settle(self) -> None:
        """Wait for every retirement (drain, then stop) the last action began."""
        names = [r.name for r in await self.scoped.revisions.list(self.app.id)]
        await self.platform.retirements.wait([self.key(n) for n in names])

    async def revision(
        self,
        status: DeploymentStatus = DeploymentStatus.SUCCEEDED,
        *,
        rollout_replicas: int | None = None,
        on_disk: bool = True,
    ) -> tuple[Deployment, Revision]:
        """A deployment of the app with its revision (the app's next number), as the
        pipeline leaves them at `status`."""
        return await seed_revision(
            self.store.real,
            self.shelf,
            workspace_id=self.workspace.id,
            app_id=self.app.id,
            status=status,
            rollout_replicas=rollout_replicas,
            on_disk=on_disk,
        )

    async def traffic(self, splits: Sequence[TrafficSplit]) -> None:
        await self.scoped.traffic.set(self.app.id, splits)

    def running(self, counts: Iterable[tuple[str, int]]) -> None:
        """Replicas that run already (started by an earlier reconcile)."""
        for name, n in counts:
            self.runtime.counts[self.key(name)] = n


async def make_world(tmp_path: Path, *, replicas: int = 1) -> World:
    real = SqlStore(f"sqlite:///{tmp_path / 'slipway.db'}")
    await real.migrate()
    store = FaultyStore(real)
    runtime, router, shelf = FakeRuntime(), FakeRouter(), ImageShelf()
    platform = Platform(
        store=store,
        source=GitSource(tmp_path / "git", local=LocalRepos(anywhere=True)),
        builder=shelf,
        runtime=runtime,
        router=router,
    )
    now = utcnow()
    ws = Workspace(id=new_id("ws"), name="acme", created_at=now)
    await store.workspaces.create(ws)
    app = App(
        id=new_id("app"), workspace_id=ws.id, name="web",
        git_url="https://example.com/acme/web.git", created_at=now, updated_at=now,
        replicas=replicas,
    )  # fmt: skip
    app = await store.scoped(ws.id).apps.create(app)
    return World(platform, store, runtime, router, shelf, ws, app)


async def close_world(world: World) -> None:
    await world.platform.close()
    await world.store.real.close()
