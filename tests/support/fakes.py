"""The test doubles of the ports, in one place: a runtime whose replicas are ready the
moment they are asked for, a router that keeps what it was told, a builder that finds the
images a test put on its shelf, and a store that can be told to fail.

Each records what it was asked and can be told to fail at any step (`faults.induce("scale")`,
`faults.induce("traffic.set")`), in the manner of Knative's table tests (`InduceFailure`).
`tests/support/conformance.py` makes mypy check every one of them against its port
(`tests/unit/test_architecture.py` runs it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Commit, Image, Workspace
from slipway.domain.revisionkeys import parse_revision_key
from slipway.domain.routes import Backend, Route
from slipway.ports import LogSink, ReplicaStatus, RevisionSpec, ScopedStore, Store


class InducedFailure(RuntimeError):
    """What an induced fault raises (unless the test gives its own exception)."""


@dataclass
class _Fault:
    exc: BaseException
    times: int  # how many more failures; -1: always
    skip: int  # calls that succeed before the first failure


@dataclass
class Faults:
    """Operations that fail, by name."""

    armed: dict[str, _Fault] = field(default_factory=dict)

    def induce(
        self, op: str, exc: BaseException | None = None, *, times: int = -1, after: int = 0
    ) -> None:
        """`op` fails `times` times (-1: always), once `after` calls of it succeeded."""
        self.armed[op] = _Fault(exc or InducedFailure(f"induced failure of {op}"), times, after)

    def clear(self) -> None:
        self.armed.clear()

    def check(self, op: str) -> None:
        fault = self.armed.get(op)
        if fault is None:
            return
        if fault.skip > 0:
            fault.skip -= 1
            return
        if fault.times == 1:
            del self.armed[op]
        elif fault.times > 1:
            fault.times -= 1
        raise fault.exc


def _revision(key: str) -> str:
    parsed = parse_revision_key(key)
    return parsed.revision if parsed else key


class FakeRuntime:
    """Replicas exist and are ready the moment they are asked for; `broken` revisions (by
    name) start but never become ready. Every call is recorded as (verb, revision, count).
    `statuses` (by key) or `fixed` (every key) override what `status` answers; `asked`
    lists the keys it was asked about; `stop_delay` makes a stop take that long."""

    def __init__(self, fixed: ReplicaStatus | None = None) -> None:
        self.counts: dict[str, int] = {}
        self.broken: set[str] = set()
        self.calls: list[tuple[str, str, int]] = []
        self.released: list[tuple[str, str]] = []
        self.release_status = 0
        self.statuses: dict[str, ReplicaStatus] = {}
        self.fixed = fixed
        self.asked: list[str] = []
        self.stopped: list[str] = []
        self.stop_delay = 0.0
        self.faults = Faults()
        self._callbacks: list[Callable[[str], None]] = []
        self._gate: Callable[[str], Awaitable[None]] | None = None

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        self.faults.check("scale")
        self.calls.append(("scale", spec.revision, replicas))
        before = self.counts.get(spec.key, 0)
        if replicas < before and self._gate is not None:
            await self._gate(spec.key)
        self.counts[spec.key] = replicas
        self._changed(spec.key)

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        self.faults.check("wait_ready")
        if _revision(key) in self.broken:
            raise DeployFailed("the app exited with status 1 before becoming healthy")

    def status(self, key: str) -> ReplicaStatus:
        self.asked.append(key)
        if self.fixed is not None or key in self.statuses:
            return self.statuses.get(key) or cast(ReplicaStatus, self.fixed)
        n = self.counts.get(key, 0)
        ready = 0 if _revision(key) in self.broken else n
        backends = tuple(Backend("127.0.0.1", 9000 + i) for i in range(ready))
        return ReplicaStatus(ready=ready, total=n, backends=backends)

    def running_keys(self) -> list[str]:
        return [key for key, n in self.counts.items() if n > 0]

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        self.faults.check("stop")
        if self.stop_delay:
            await asyncio.sleep(self.stop_delay)
        self.calls.append(("stop", _revision(key), 0))
        self.stopped.append(key)
        self.counts.pop(key, None)
        self._changed(key)

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        self._gate = gate

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        self.faults.check("run_once")
        self.released.append((spec.revision, command))
        await log(f"ran {command}")
        return self.release_status

    async def close(self) -> None:
        self.counts.clear()

    def running(self) -> dict[str, int]:
        """Revision name -> replicas, of everything that runs."""
        return {_revision(k): n for k, n in sorted(self.counts.items()) if n > 0}

    def _changed(self, key: str) -> None:
        for callback in list(self._callbacks):
            callback(key)


@dataclass
class FakeRouter:
    """Keeps only the routes each app has now; `in_flight` says what a test sets."""

    routes: dict[str, list[Route]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    loads: dict[str, tuple[float, int]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    pushes: int = 0
    activate: Callable[[str], None] | None = None  # what a held request would call
    refused: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> why, for how long

    def set_routes(self, app_id: str, routes: Sequence[Route]) -> None:
        self.faults.check("set_routes")
        self.pushes += 1
        self.routes[app_id] = list(routes)

    def remove_app(self, app_id: str) -> None:
        self.routes.pop(app_id, None)
        self.removed.append(app_id)

    def in_flight(self, revision_key: str) -> int:
        return self.requests.get(revision_key, 0)

    def load(self) -> dict[str, tuple[float, int]]:
        return dict(self.loads)

    def on_activate(self, callback: Callable[[str], None]) -> None:
        self.activate = callback

    def refuse_held(self, revision_key: str, reason: str, seconds: float) -> None:
        self.refused[revision_key] = (reason, seconds)

    async def settled(self) -> None:
        pass

    async def metrics(self) -> bytes:
        return b""

    def weights(self, app_id: str) -> dict[str, dict[str, int]]:
        """Host -> revision name -> weight, of the routes the app has now."""
        return {
            r.host: {_revision(t.revision): t.weight for t in r.targets}
            for r in self.routes.get(app_id, [])
        }


class ImageShelf:
    """A builder that finds the images a test put on its shelf; `build` puts one there for
    the commit (or fails, when told to)."""

    def __init__(self) -> None:
        self.images: dict[str, Image] = {}
        self.built: list[str] = []
        self.faults = Faults()

    def shelve(self, n: int, *, start_command: str = "python3 main.py") -> Image:
        digest = "sha256:" + f"{n:064x}"
        image = Image(
            ref=f"local/x/app:sha256-{n:012x}",
            digest=digest,
            start_command=start_command,
            path="/nonexistent",
            app_dir="/nonexistent",
        )
        self.images[digest] = image
        return image

    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        self.faults.check("build")
        self.built.append(commit.sha)
        await log(f"built {commit.sha}")
        return self.shelve(len(self.images) + 1)

    async def find_image(self, digest: str) -> Image | None:
        return self.images.get(digest)


class ScriptedBuilder:
    """Writes `lines[k]` once `gates[k]` opens, then fails the build on purpose."""

    def __init__(self, lines: list[list[str]]) -> None:
        self.lines = lines
        self.gates = [asyncio.Event() for _ in lines]
        self.done = asyncio.Event()

    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        try:
            for gate, lines in zip(self.gates, self.lines, strict=True):
                await gate.wait()
                for line in lines:
                    await log(line)
        finally:
            self.done.set()
        raise DeployFailed("the scripted build fails on purpose.")

    async def find_image(self, digest: str) -> Image | None:
        return None


class _FaultyRepo:
    """One repository of a scoped store whose methods check `faults` first, by
    `"{repo}.{method}"` (e.g. `traffic.set`)."""

    def __init__(self, name: str, repo: object, faults: Faults) -> None:
        self._name, self._repo, self._faults = name, repo, faults

    def __getattr__(self, method: str) -> Any:
        real = getattr(self._repo, method)
        op = f"{self._name}.{method}"

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._faults.check(op)
            return await real(*args, **kwargs)

        return call


class _FaultyScoped:
    def __init__(self, scoped: ScopedStore, faults: Faults) -> None:
        self.workspace_id = scoped.workspace_id
        for name in (
            "api_keys",
            "apps",
            "deployments",
            "revisions",
            "traffic",
            "warmups",
            "logs",
            "domains",
        ):
            setattr(self, name, _FaultyRepo(name, getattr(scoped, name), faults))
        self.idempotency = _FaultyRepo("idempotency", scoped.idempotency, faults)


class FaultyStore:
    """A real store (SQLite in the tests) whose workspace-scoped repositories fail where a
    test induces it; everything else is the real store's."""

    def __init__(self, store: Store) -> None:
        self.real = store
        self.faults = Faults()
        self.workspaces = store.workspaces

    def scoped(self, workspace_id: str) -> ScopedStore:
        return cast(ScopedStore, _FaultyScoped(self.real.scoped(workspace_id), self.faults))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
