"""`JobRunner`: run a Job to its end and follow its pod's output, over `KubeApi` (the
`slipway.builder.cluster.JobRunner` protocol: builds on the cluster use it).

The objects the Job's pod mounts are applied first, then the Job, then the Job becomes their
owner (the cluster's garbage collector deletes them with it). Pods and Jobs are read from a
cache that watches keep current (`watching.py`, everything Slipway labels), not polled. The
runner waits until the pod runs (an image that cannot be pulled or an init container that
failed is a DeployFailed), forwards the first container's log line by line as it is written,
and returns that container's exit code and termination message (kaniko writes the image
digest there). Past `timeout` seconds (plus a margin for scheduling), or when the Job's
`activeDeadlineSeconds` ends it, DeployFailed; cancelled or late, the Job is deleted, its pod
with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from slipway.domain.errors import DeployFailed
from slipway.ports import LogSink
from slipway.runtime.kubernetes import manifests as m
from slipway.runtime.kubernetes.api import REQUEST_ERRORS, KubeApi, describe
from slipway.runtime.kubernetes.kinds import JOB, POD, Kind
from slipway.runtime.kubernetes.podstatus import STUCK, failure
from slipway.runtime.kubernetes.watching import ClusterCache

JOB_MARGIN_SECONDS = 30.0  # a job's pod may wait this long to be scheduled
JOB_VERDICT_SECONDS = 5.0


class JobRunner:
    def __init__(self, api: KubeApi, *, cache: ClusterCache | None = None) -> None:
        """With `cache` (watching Pods and Jobs), the runner reads it and its owner calls
        `changed()` at each of its events and starts it; without, it keeps its own."""
        self._api = api
        self._cache = cache or ClusterCache(api, (POD, JOB), self.changed)
        self._changed = asyncio.Event()
        self._started = cache is not None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """List and start watching (done by the first `run_job` when not called)."""
        async with self._lock:
            if not self._started:
                await self._cache.start()
                self._started = True

    async def close(self) -> None:
        await self._cache.close()

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply; DeployFailed with the cluster's reason when it refuses."""
        try:
            return await self._api.apply(manifest)
        except REQUEST_ERRORS as exc:
            kind, name = manifest.get("kind"), manifest.get("metadata", {}).get("name")
            raise DeployFailed(f"the cluster refused {kind} {name}: {describe(exc)}") from exc

    async def run_job(
        self,
        job: dict[str, Any],
        *,
        log: LogSink,
        timeout: float,
        attached: Sequence[dict[str, Any]] = (),
        what: str = "the build",
    ) -> tuple[int, str]:
        """(exit code, termination message) of the Job's pod's first container; see the
        module's docstring. `what` names the job in its errors."""
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        container = str(job["spec"]["template"]["spec"]["containers"][0]["name"])
        late = DeployFailed(f"{what} did not finish within {timeout:g} seconds")
        try:
            await self._submit(job, attached)
            try:
                async with asyncio.timeout(timeout + JOB_MARGIN_SECONDS):
                    done = await self._follow(name, ns, container, log, what)
                expired = condition(self._job(name, ns), "Failed") == "DeadlineExceeded"
            except TimeoutError:
                raise late from None
            finally:
                if _terminated(self._pod(name, ns), container) is None:  # cancelled, late
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._api.delete(JOB, name, ns))
        except REQUEST_ERRORS as exc:
            raise DeployFailed(f"the cluster refused {what}: {describe(exc)}") from exc
        if expired:
            raise late
        return int(done.get("exitCode", 1)), str(done.get("message") or "")

    async def _submit(self, job: dict[str, Any], attached: Sequence[dict[str, Any]]) -> None:
        """`attached`, the Job, then the Job as their owner (they go when it goes)."""
        await self.start()
        for obj in attached:
            await self._api.apply(obj)
        owners = m.owner(await self._api.apply(job))
        for obj in attached:
            await self._api.apply(
                {**obj, "metadata": {**obj["metadata"], "ownerReferences": owners}}
            )

    # ------------------------------------------------------------------ internals

    async def _follow(
        self, name: str, ns: str, container: str, log: LogSink, what: str
    ) -> dict[str, Any]:
        pod = await self._until(lambda: _running(self._pod(name, ns), what))
        async for line in self._api.log_lines(pod["metadata"]["name"], ns, container=container):
            await log(line)
        done = await self._until(
            lambda: _terminated(self._pod(name, ns), container) or self._ended(name, ns)
        )
        with contextlib.suppress(TimeoutError):  # its Job's verdict follows the pod's end
            async with asyncio.timeout(JOB_VERDICT_SECONDS):
                await self._until(lambda: self._verdict(name, ns))
        return done

    def _pod(self, name: str, ns: str) -> dict[str, Any] | None:
        return job_pod(self._cache.objects[POD], name, ns)

    def _ended(self, name: str, ns: str) -> dict[str, Any] | None:
        """The Job failed with its pod gone (a deadline deletes the pod): no exit code."""
        if self._pod(name, ns) is None and condition(self._job(name, ns), "Failed") is not None:
            return {"exitCode": 1, "message": ""}
        return None

    def _job(self, name: str, ns: str) -> dict[str, Any] | None:
        return self._cache.objects[JOB].get((ns, name))

    def _verdict(self, name: str, ns: str) -> dict[str, Any] | None:
        job = self._cache.objects[JOB].get((ns, name))
        done = condition(job, "Complete") is not None or condition(job, "Failed") is not None
        return job if done else None

    async def _until(self, probe: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        while (found := probe()) is None:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await changed.wait()
        return found

    def changed(self, kind: Kind | None = None, event: str = "", obj: object = None) -> None:
        """Something the cache holds changed: look again."""
        self._changed.set()
        self._changed = asyncio.Event()


def job_pod(
    pods: dict[tuple[str, str], dict[str, Any]], name: str, ns: str
) -> dict[str, Any] | None:
    """The pod the Job `ns/name` owns, if there is one yet."""
    for (pod_ns, _), pod in pods.items():
        refs = pod["metadata"].get("ownerReferences") or []
        if pod_ns == ns and any(r.get("kind") == "Job" and r.get("name") == name for r in refs):
            return pod
    return None


def condition(job: dict[str, Any] | None, kind: str) -> str | None:
    """The reason of the job's condition `kind` when it is true."""
    for cond in (job or {}).get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return str(cond.get("reason", ""))
    return None


def init_failure(pod: dict[str, Any]) -> str | None:
    """Why the pod's init containers will not let it start, if they will not."""
    for cs in pod.get("status", {}).get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting in STUCK:
            message = (state.get("waiting") or {}).get("message", "")
            return f"init container {cs.get('name')}: {waiting}: {message}".rstrip(": ")
        terminated = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if terminated and int(terminated.get("exitCode", 0)) != 0:
            return (
                f"init container {cs.get('name')} exited with status {terminated.get('exitCode')}"
            )
    return None


def _running(pod: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    if pod is None:
        return None
    stuck = init_failure(pod)
    if stuck is None and (found := failure(pod)) is not None:
        stuck = found[1]
    if stuck is not None:
        raise DeployFailed(f"{what} could not start: {stuck}")
    return pod if pod.get("status", {}).get("phase") not in (None, "Pending") else None


def _terminated(pod: dict[str, Any] | None, container: str) -> dict[str, Any] | None:
    if pod is None:
        return None
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        if cs.get("name") == container and (done := (cs.get("state") or {}).get("terminated")):
            return dict(done)
    return None
