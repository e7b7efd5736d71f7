"""`KubernetesRuntime`: revisions run as Deployments in a cluster (`slipway serve --runtime
kubernetes`), implementing `slipway.ports.Runtime`.

`scale` writes the revision's objects with server-side apply (namespace and NetworkPolicy
once per workspace; the env Secret, the Deployment with its replica count, its Service; the
app's HPA on the revision that serves most of its traffic). `status` and `wait_ready` read a
cache that watches keep current (`watching.py`); readiness changes fire `on_change`.
`stop` deletes the Deployment, and the cluster's garbage collector what it owns.
`run_once` (the release phase) is a Job whose pod's output is followed into the log.

Kubernetes drains a pod itself (the endpoint leaves the gateway, then a preStop sleep, then
SIGTERM), so the drain gate is not called here. `close` leaves the cluster running: the
replicas are the cluster's, not this process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from slipway.domain.errors import DeployFailed
from slipway.domain.revisionkeys import revision_key
from slipway.ports import LogSink, ReplicaLimits, ReplicaStatus, RevisionSpec
from slipway.runtime.kubernetes import manifests as m
from slipway.runtime.kubernetes.api import REQUEST_ERRORS, KubeApi, describe, lasting
from slipway.runtime.kubernetes.jobs import JobRunner
from slipway.runtime.kubernetes.kinds import DEPLOYMENT, HPA, JOB, POD, Kind
from slipway.runtime.kubernetes.podlogs import OutputSinks, PodLogs
from slipway.runtime.kubernetes.podstatus import failure, replica_status
from slipway.runtime.kubernetes.watching import ClusterCache

log = logging.getLogger(__name__)


def revision_key_of(obj: dict[str, Any]) -> str | None:
    lbl = obj.get("metadata", {}).get("labels") or {}
    ws, app, rev = lbl.get(m.WORKSPACE), lbl.get(m.APP), lbl.get(m.REVISION)
    return revision_key(ws, app, rev) if ws and app and rev else None


class KubernetesRuntime:
    WATCHED: tuple[Kind, ...] = (DEPLOYMENT, POD, JOB)

    def __init__(
        self, api: KubeApi, settings: m.ClusterSettings, *, app_logs: OutputSinks | None = None
    ) -> None:
        self._api = api
        self.settings = settings
        self._cache = ClusterCache(api, self.WATCHED, self._event)
        self.jobs = JobRunner(api, cache=self._cache)  # release commands (and builds)
        self._logs = PodLogs(api, app_logs)
        self._listed = False  # pods seen before: followed from now on, not replayed
        self._specs: dict[str, RevisionSpec] = {}
        self._owners: dict[str, list[dict[str, Any]]] = {}  # key -> its Deployment as owner
        self._applied: dict[str, int | None] = {}  # key -> replicas last written
        self._written: dict[str, dict[str, Any]] = {}  # key -> its Deployment as last applied
        # key -> its replica pods by (namespace, name), kept by `_event` (status is asked for
        # at every route sync: no scan of every pod of the cluster)
        self._replicas: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._namespaces: set[str] = set()
        self._hpa_target: dict[tuple[str, str], str | None] = {}  # (ns, app) -> revision
        # key -> why the cluster refused its objects, and whether trying again cannot help
        self._refused: dict[str, tuple[str, bool]] = {}
        self._callbacks: list[Callable[[str], None]] = []
        self._ready: dict[str, int] = {}
        self._changed = asyncio.Event()

    async def start(self) -> None:
        await self._cache.start()
        self._listed = True

    # ------------------------------------------------------------------ Runtime

    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        """Write the revision's objects. A refusal (or no answer) is not raised: like a
        replica that cannot start, it is the revision's state (`status().last_error`,
        `wait_ready` fails with it) until a later pass (the resync) writes them."""
        self._specs[spec.key] = spec
        try:
            await self._write(spec, replicas)
        except REQUEST_ERRORS as exc:
            self._refused[spec.key] = (describe(exc), lasting(exc))
            log.warning("the cluster refused revision %s: %s", spec.key, describe(exc))
        else:
            self._refused.pop(spec.key, None)

    async def _write(self, spec: RevisionSpec, replicas: int) -> None:
        await self._workspace(spec)
        if spec.key not in self._owners:
            await self._api.apply(m.env_secret(self.settings, spec))  # before its pods need it
        count: int | None = replicas
        if spec.autoscale is not None and self._applied.get(spec.key) == replicas:
            count = None  # unchanged: the HPA owns the count between manual scales
        manifest = m.deployment(self.settings, spec, count)
        ns = m.namespace_name(self.settings, spec.workspace_id)
        if self._written.get(spec.key) == manifest and (ns, spec.revision) in self._deployments:
            await self._autoscaler(spec)  # every reconcile pass asks: no write if nothing changed
            return
        deployment = await self._api.apply(manifest)
        self._written[spec.key] = manifest
        self._applied[spec.key] = replicas
        if spec.key not in self._owners:
            owners = m.owner(deployment)
            await self._api.apply(m.env_secret(self.settings, spec, owners))
            await self._api.apply(m.service(self.settings, spec, owners))
            self._owners[spec.key] = owners
        await self._autoscaler(spec)

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if count <= 0:
                return
            ready = self.status(key).ready
            if ready >= count:
                return
            self._raise_refused(key)
            if self._serves(key, count, ready):
                return
            stuck = [f for p in self._pods(key) if (f := failure(p)) is not None]
            if stuck:
                raise DeployFailed(stuck[-1][1])
            self._raise_failed(key)
            left = deadline - loop.time()
            if left <= 0:
                raise DeployFailed(self._timeout_message(key, timeout))
            await self._changes(min(left, 1.0))

    def status(self, key: str) -> ReplicaStatus:
        spec = self._specs.get(key)
        limits = None
        if spec is not None:
            limits = ReplicaLimits(
                memory_mb=spec.memory_mb or m.DEFAULT_MEMORY_MB,
                max_processes=0,  # the node's pid limit: a pod spec cannot set one
                cpus=float(m.DEFAULT_CPU),
                enforced_by="kubernetes",
            )
        status = replica_status(self._pods(key), limits=limits, port=m.APP_PORT)
        if key in self._refused:
            return dataclasses.replace(status, last_error=self._refusal(key))
        return status

    def running_keys(self) -> list[str]:
        keys = {revision_key_of(d) for d in self._deployments.values()}
        return sorted(k for k in keys if k is not None)

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        self._specs.pop(key, None)
        self._owners.pop(key, None)
        self._applied.pop(key, None)
        self._written.pop(key, None)
        self._refused.pop(key, None)
        for (ns, name), obj in list(self._deployments.items()):
            if revision_key_of(obj) == key:
                try:
                    await self._api.delete(DEPLOYMENT, name, ns)
                except REQUEST_ERRORS as exc:  # still running: the resync stops it again
                    log.warning("could not delete deployment %s/%s: %s", ns, name, describe(exc))
                    continue
                self._forget_autoscaler(ns, name)

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        """Unused: the cluster drains a pod before it stops it (module docstring)."""

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        await self._workspace(spec)
        secret = m.env_secret(self.settings, spec)
        attached = []
        if spec.key in self._owners:  # its replicas' Secret, owned by their Deployment
            await self._api.apply(m.env_secret(self.settings, spec, self._owners[spec.key]))
        else:  # the Secret goes with the job if no replica comes
            attached.append(secret)
        name = f"{spec.revision}-release-{secrets.token_hex(3)}"
        job = m.release_job(self.settings, spec, name=name, command=command, timeout=timeout)
        code, _ = await self.jobs.run_job(
            job, log=log, timeout=timeout, attached=attached, what="the release command"
        )
        return code

    async def close(self) -> None:
        """Stop watching; the replicas stay (the module's docstring). The caller closes the
        API client, which the routes share."""
        await self._cache.close()
        await self._logs.close()

    # ------------------------------------------------------------------ internals

    async def _workspace(self, spec: RevisionSpec) -> None:
        ns = m.namespace_name(self.settings, spec.workspace_id)
        if ns in self._namespaces:
            return
        await self._api.apply(m.namespace(self.settings, spec.workspace_id, spec.workspace_name))
        await self._api.apply(m.network_policy(self.settings, spec.workspace_id))
        self._namespaces.add(ns)

    async def _autoscaler(self, spec: RevisionSpec) -> None:
        ns = m.namespace_name(self.settings, spec.workspace_id)
        app = (ns, spec.app_name)
        if spec.autoscale is not None:
            if self._hpa_target.get(app) != spec.revision:
                owners = self._owners.get(spec.key, [])
                await self._api.apply(m.hpa(self.settings, spec, spec.autoscale, owners))
                self._hpa_target[app] = spec.revision
            return
        if app not in self._hpa_target:  # after a restart: is there one from before?
            found = await self._api.get(HPA, spec.app_name, ns)
            target = found["spec"]["scaleTargetRef"]["name"] if found else None
            self._hpa_target[app] = target
        if self._hpa_target.get(app) == spec.revision:  # the app no longer autoscales
            await self._api.delete(HPA, spec.app_name, ns)
            self._hpa_target[app] = None

    def _serves(self, key: str, count: int, ready: int) -> bool:
        """Whether the revision serves with fewer than `count` ready pods (Knative)."""
        return False

    def _raise_failed(self, key: str) -> None:
        """DeployFailed when the revision's own status says it failed (Knative)."""

    def _refusal(self, key: str) -> str:
        return f"the cluster refused the revision's objects: {self._refused[key][0]}"

    def _raise_refused(self, key: str) -> None:
        """A lasting refusal fails the wait at once; a passing one (5xx, no answer) waits
        for the resync's next write, up to the wait's own timeout."""
        if self._refused.get(key, ("", False))[1]:
            raise DeployFailed(self._refusal(key))

    def _forget_autoscaler(self, ns: str, revision: str) -> None:
        """The HPA on `revision` goes with its Deployment (its owner): forget it."""
        for app, target in list(self._hpa_target.items()):
            if app[0] == ns and target == revision:
                self._hpa_target[app] = None

    @property
    def _deployments(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self._cache.objects[DEPLOYMENT]

    def _pods(self, key: str) -> list[dict[str, Any]]:
        return list(self._replicas.get(key, {}).values())

    async def _changes(self, timeout: float) -> None:
        """Return at the cache's next change, or after `timeout` seconds."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()

    def _event(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        self.jobs.changed()
        key = revision_key_of(obj)
        if kind is not POD or key is None:
            return
        if (obj["metadata"].get("labels") or {}).get(m.ROLE) != "replica":
            return  # a release or build pod (the job runner reads those)
        meta = obj["metadata"]
        pods = self._replicas.setdefault(key, {})
        if event == "DELETED":
            pods.pop((meta.get("namespace", ""), meta.get("name", "")), None)
            if not pods:
                del self._replicas[key]
        else:
            pods[(meta.get("namespace", ""), meta.get("name", ""))] = obj
        self._logs.pod_changed(event, obj, key, replay=self._listed)
        ready = self.status(key).ready
        if self._ready.get(key) != ready or event == "DELETED":
            self._ready[key] = ready
            for callback in list(self._callbacks):
                try:
                    callback(key)
                except Exception:
                    log.exception("on_change callback failed for %s", key)

    def _timeout_message(self, key: str, timeout: float) -> str:
        if key in self._refused:  # the cluster never had it to start
            return self._refusal(key)
        spec = self._specs.get(key)
        path = spec.health_check_path if spec else None
        what = (
            f"did not answer its readiness probe on {path}"
            if path
            else "did not pass its readiness probe (accepting connections on $PORT)"
        )
        return f"the app {what} within {timeout:g} seconds"
