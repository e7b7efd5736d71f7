"""`LocalRuntime`: revisions run as supervised, sandboxed child processes on this machine
(each replica in a sandbox of its own: `slipway.sandbox`).

State is one `_Group` per revision key: the spec and its list of `Replica`s. `scale()` is
level-triggered: it starts replicas or takes surplus ones out of the group at once (they stop
taking requests immediately and are drained and terminated in the background, tracked so
`close()` can wait for them). `wait_ready()` polls the group: it succeeds once enough replicas
pass their health check, and fails fast when a replica exits before it ever became healthy.
Every change in a revision's set of ready replicas fires the `on_change` callbacks with its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slipway.domain.errors import DeployFailed
from slipway.domain.routes import Backend
from slipway.ports import LogSink, ReplicaLimits, ReplicaStatus, RevisionSpec
from slipway.runtime.local import oneshot
from slipway.runtime.local.logs import AppLogFiles
from slipway.runtime.local.process import limits_for
from slipway.runtime.local.replica import Replica
from slipway.sandbox import SandboxHost

log = logging.getLogger(__name__)

SCALE_DOWN_DRAIN_SECONDS = 1.0  # without a drain gate
DRAIN_GATE_LIMIT_SECONDS = 40.0  # a gate that hangs longer is given up on
WAIT_POLL_SECONDS = 0.05


@dataclass
class _Group:
    spec: RevisionSpec
    replicas: list[Replica] = field(default_factory=list)


class LocalRuntime:
    """Implements `slipway.ports.Runtime` with local processes."""

    def __init__(
        self,
        *,
        sandbox: SandboxHost | None = None,
        app_logs: AppLogFiles | None = None,
    ) -> None:
        self._sandbox = sandbox or SandboxHost()
        self._app_logs = app_logs  # where replica output goes (runtime logs), if anywhere
        self._groups: dict[str, _Group] = {}
        self._callbacks: list[Callable[[str], None]] = []
        self._stopping: set[asyncio.Task[None]] = set()
        self._drain_gate: Callable[[str], Awaitable[None]] | None = None
        self._changed = asyncio.Event()  # set, and replaced, at every readiness change
        self._leaving: dict[str, int] = {}  # key -> replicas `stop` is stopping

    # ------------------------------------------------------------------ Runtime

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        group = self._groups.get(spec.key)
        if group is None:
            group = self._groups[spec.key] = _Group(spec)
        while len(group.replicas) < replicas:
            replica = self._new_replica(spec)
            group.replicas.append(replica)
            replica.start()
        surplus = len(group.replicas) - max(replicas, 0)
        if surplus > 0:
            # Take the not-ready ones first: they serve nobody.
            ordered = sorted(group.replicas, key=lambda r: r.ready)
            victims = ordered[:surplus]
            group.replicas = [r for r in group.replicas if r not in victims]
            self._retire(victims, SCALE_DOWN_DRAIN_SECONDS, key=spec.key)

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            group = self._groups.get(key)
            if count <= 0:
                return
            if group is None:
                raise DeployFailed("the revision has no replicas to wait for")
            if sum(r.ready for r in group.replicas) >= count:
                return
            for replica in group.replicas:
                if replica.start_error is not None:
                    raise DeployFailed(replica.failure())
            if loop.time() >= deadline:
                raise DeployFailed(self._timeout_message(group, timeout))
            changed = self._changed  # woken at once by a readiness change; polled for errors
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_POLL_SECONDS):
                    await changed.wait()

    def running_keys(self) -> list[str]:
        return [key for key, group in self._groups.items() if group.replicas]

    def status(self, key: str) -> ReplicaStatus:
        group = self._groups.get(key)
        leaving = self._leaving.get(key, 0)  # stopped, their processes not yet exited
        if group is None:
            return ReplicaStatus(ready=0, total=leaving, backends=())
        ready = [r for r in group.replicas if r.ready]
        errors = [r for r in group.replicas if r.last_error]
        limits = limits_for(group.spec)
        return ReplicaStatus(
            ready=len(ready),
            total=len(group.replicas) + leaving,
            backends=tuple(Backend(r.host, r.port, r.netns) for r in ready),
            restarts=sum(r.restarts for r in group.replicas),
            last_error=errors[-1].last_error if errors else None,
            last_reason=errors[-1].last_reason if errors else None,
            limits=ReplicaLimits(
                memory_mb=limits.memory_mb,
                max_processes=limits.pids,
                cpus=limits.cpus,
                enforced_by=self._sandbox.enforcement,
            ),
        )

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        """Stop every replica of the revision; until their processes have exited, `status`
        still counts them in `total` (a deleted app's answer waits for that)."""
        group = self._groups.pop(key, None)
        if group is None:
            return
        count = len(group.replicas)
        self._leaving[key] = self._leaving.get(key, 0) + count
        try:
            await self._drain_and_stop(group.replicas, drain_seconds)
        finally:
            left = self._leaving.pop(key, 0) - count
            if left > 0:
                self._leaving[key] = left
            self._fire(key)  # published: none left

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        self._drain_gate = gate

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        return await oneshot.run_once(
            spec, command, log=log, timeout=timeout, sandbox=self._sandbox
        )

    async def close(self) -> None:
        keys = list(self._groups)
        await asyncio.gather(*(self.stop(k) for k in keys), return_exceptions=True)
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)

    # ------------------------------------------------------------------ extras

    def logs(self, key: str) -> list[str]:
        """The latest captured output lines of every replica of a revision."""
        group = self._groups.get(key)
        return [line for r in group.replicas for line in r.logs] if group else []

    def pids(self, key: str) -> list[int]:
        """The root process id of every running replica (diagnostics and tests)."""
        group = self._groups.get(key)
        if group is None:
            return []
        return [pid for r in group.replicas if (pid := r.pid) is not None]

    # ------------------------------------------------------------------ internals

    def _new_replica(self, spec: RevisionSpec) -> Replica:
        return Replica(
            spec,
            sandbox=self._sandbox,
            on_ready_change=lambda: self._fire(spec.key),
            on_output=self._app_logs.sink(spec) if self._app_logs else None,
        )

    def _retire(self, replicas: list[Replica], drain_seconds: float, *, key: str) -> None:
        task = asyncio.create_task(self._drain_and_stop(replicas, drain_seconds, key=key))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _drain_and_stop(
        self, replicas: list[Replica], drain_seconds: float, *, key: str | None = None
    ) -> None:
        for replica in replicas:
            replica.mark_unready()
        if key is not None and self._drain_gate is not None and replicas:
            await self._pass_gate(key)
        elif drain_seconds > 0 and replicas:
            await asyncio.sleep(drain_seconds)
        results = await asyncio.gather(*(r.stop() for r in replicas), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("stopping a replica failed", exc_info=result)

    async def _pass_gate(self, key: str) -> None:
        """Await the drain gate; its failure or hang must not keep replicas alive forever."""
        assert self._drain_gate is not None
        try:
            await asyncio.wait_for(self._drain_gate(key), DRAIN_GATE_LIMIT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("drain gate failed for %s; stopping its replicas anyway", key)

    def _fire(self, key: str) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in list(self._callbacks):
            try:
                callback(key)
            except Exception:
                log.exception("on_change callback failed for %s", key)

    def _timeout_message(self, group: _Group, timeout: float) -> str:
        path = group.spec.health_check_path
        what = (
            f"did not answer its health check on {path}"
            if path
            else "did not pass its health check (accepting connections on $PORT)"
        )
        probes = {r.last_probe for r in group.replicas if r.last_probe}
        detail = f" (last probe: {sorted(probes)[0]})" if path and probes else ""
        return f"the app {what} within {timeout:g} seconds{detail}"
