"""Knative Serving mode (chosen at start when the cluster serves `serving.knative.dev/v1`):
one Knative Service per app, each Slipway revision a Knative Revision of the same name.

The Service's template is the newest revision Slipway started (`spec.template.metadata.
name` = the revision's name) with its scale bounds as autoscaling annotations: minReplicas
and maxReplicas for an autoscaled app, else the requested count for both. Its `traffic`
block is the split (`revisionName` + `percent`) and a 0% entry per tag. Knative revisions
are immutable, so a revision keeps the bounds it was created with: Scale applies to the
next revision (docs/kubernetes.md). A revision out of traffic scales to zero by itself and
is left to Knative's revision garbage collection; deleting the app deletes its Service (and
with it the revisions).

The runtime and the routes both write the one Service, so `KnativeApps` holds what each
last set and applies the whole object under the app's lock (server-side apply under one
field manager owns every field it sends: a partial apply would drop the other's part).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slipway.domain.errors import DeployFailed
from slipway.domain.revisionkeys import parse_revision_key
from slipway.domain.routes import Route
from slipway.ports import RevisionSpec
from slipway.runtime.kubernetes import manifests as m
from slipway.runtime.kubernetes.api import REQUEST_ERRORS, KubeApi, describe
from slipway.runtime.kubernetes.gateway import GatewayRoutes, app_of
from slipway.runtime.kubernetes.kinds import JOB, KNATIVE_REVISION, KNATIVE_SERVICE, POD, Kind
from slipway.runtime.kubernetes.podlogs import OutputSinks
from slipway.runtime.kubernetes.runtime import KubernetesRuntime, revision_key_of

log = logging.getLogger(__name__)

KNATIVE_GROUP = "/apis/serving.knative.dev/v1"


async def knative_installed(api: KubeApi) -> bool:
    return await api.exists(KNATIVE_GROUP)


@dataclass
class _App:
    namespace: str
    name: str
    body: dict[str, Any] | None = None  # the Service as last applied (template + traffic)


class KnativeApps:
    """The Knative Service of each app, written whole (the module's docstring)."""

    def __init__(self, api: KubeApi, settings: m.ClusterSettings) -> None:
        self._api = api
        self._settings = settings
        self._apps: dict[str, _App] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def read(self, app_id: str, workspace_id: str, app_name: str) -> None:
        """Know the app's Service (after a restart: as the cluster holds it)."""
        async with self._lock(app_id):
            await self._load(app_id, workspace_id, app_name)

    def template_of(self, app_id: str) -> str | None:
        app = self._apps.get(app_id)
        if app is None or app.body is None:
            return None
        return str(app.body["spec"]["template"]["metadata"]["name"])

    def routed(self, app_id: str, revision: str) -> bool:
        """Whether the Service's traffic block (as last applied) names `revision`."""
        app = self._apps.get(app_id)
        if app is None or app.body is None:
            return False
        latest = self.template_of(app_id)
        traffic = app.body["spec"].get("traffic") or [{"latestRevision": True}]  # the default
        return any(
            (latest if entry.get("latestRevision") else entry.get("revisionName")) == revision
            for entry in traffic
        )

    async def set_template(self, spec: RevisionSpec, replicas: int) -> dict[str, Any]:
        async with self._lock(spec.app_id):
            app = await self._load(spec.app_id, spec.workspace_id, spec.app_name)
            traffic = app.body["spec"].get("traffic") if app.body else None
            body = m.knative_service(self._settings, spec, replicas=replicas, traffic=traffic)
            return await self._apply(app, body)

    async def set_traffic(
        self, app_id: str, workspace_id: str, app_name: str, traffic: list[dict[str, Any]] | None
    ) -> None:
        async with self._lock(app_id):
            app = await self._load(app_id, workspace_id, app_name)
            if app.body is None:
                return  # no revision yet: nothing to route
            if app.body["spec"].get("traffic") == traffic:
                return
            body = {**app.body, "spec": dict(app.body["spec"])}
            if traffic is None:
                body["spec"].pop("traffic", None)
            else:
                body["spec"]["traffic"] = traffic
            await self._apply(app, body)

    async def delete(self, app_id: str) -> None:
        async with self._lock(app_id):
            app = self._apps.get(app_id)
            if app is not None:
                await self._api.delete(KNATIVE_SERVICE, app.name, app.namespace)
                del self._apps[app_id]  # only once it is gone: a refusal is tried again
                return
            found, _ = await self._api.list(
                KNATIVE_SERVICE, selector=f"{m.MANAGED},{m.APP}={app_id}"
            )
            for obj in found:
                meta = obj["metadata"]
                await self._api.delete(KNATIVE_SERVICE, meta["name"], meta["namespace"])

    def _lock(self, app_id: str) -> asyncio.Lock:
        return self._locks.setdefault(app_id, asyncio.Lock())

    async def _load(self, app_id: str, workspace_id: str, app_name: str) -> _App:
        """What Slipway last applied, or (after a restart) what the cluster holds."""
        app = self._apps.get(app_id)
        if app is None:
            ns = m.namespace_name(self._settings, workspace_id)
            app = self._apps[app_id] = _App(ns, app_name)
            found = await self._api.get(KNATIVE_SERVICE, app_name, ns)
            if found is not None:
                app.body = {k: v for k, v in found.items() if k != "status"}
                app.body["metadata"] = {
                    k: found["metadata"][k] for k in ("name", "namespace", "labels")
                }
        return app

    async def _apply(self, app: _App, body: dict[str, Any]) -> dict[str, Any]:
        stored = await self._api.apply(body)
        app.body = body
        return stored


class KnativeRuntime(KubernetesRuntime):
    """`KubernetesRuntime` with Knative Revisions in place of Deployments."""

    WATCHED: tuple[Kind, ...] = (KNATIVE_REVISION, POD, JOB)

    def __init__(
        self,
        api: KubeApi,
        settings: m.ClusterSettings,
        apps: KnativeApps,
        *,
        app_logs: OutputSinks | None = None,
    ) -> None:
        super().__init__(api, settings, app_logs=app_logs)
        self._apps = apps

    async def _write(self, spec: RevisionSpec, replicas: int) -> None:
        await self._workspace(spec)
        ns = m.namespace_name(self.settings, spec.workspace_id)
        if (ns, spec.revision) in self._cache.objects[KNATIVE_REVISION]:
            return  # created with its bounds, which Knative keeps (the module's docstring)
        await self._api.apply(m.env_secret(self.settings, spec))  # before its pods need it
        service = await self._apps.set_template(spec, replicas)
        await self._api.apply(m.env_secret(self.settings, spec, m.owner(service)))

    def _serves(self, key: str, count: int, ready: int) -> bool:
        """A Ready revision serves even at zero pods (Knative's activator starts one for the
        first request); one with pods serves once the pods it counts are ready here too
        (their own watch may not have told us yet)."""
        revision = self._revision(key)
        condition = _condition(revision, "Ready")
        if condition is None or condition.get("status") != "True":
            return False
        actual = int((revision or {}).get("status", {}).get("actualReplicas") or 0)
        return ready >= min(count, actual)

    def _raise_failed(self, key: str) -> None:
        condition = _condition(self._revision(key), "Ready")
        if condition is not None and condition.get("status") == "False":
            raise DeployFailed(f"{condition.get('reason')}: {condition.get('message', '')}")

    def running_keys(self) -> list[str]:
        """Revisions with pods: one at zero exists, but runs nothing."""
        keys = {revision_key_of(p) for p in self._cache.objects[POD].values()}
        revisions = {revision_key_of(r) for r in self._cache.objects[KNATIVE_REVISION].values()}
        return sorted(k for k in keys & revisions if k is not None)

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None:
        """A revision still in the traffic block is stopped only when the whole app is
        (Slipway takes a revision out of traffic before it stops it, except when the app is
        scaled to zero): its Service goes, and comes back at the next `scale`. Out of
        traffic, Knative has scaled it to zero already and garbage-collects old revisions by
        its own policy; Slipway leaves it, so a later split or rollback to it finds it."""
        self._specs.pop(key, None)
        parsed = parse_revision_key(key)
        owner = m.workspace_and_app(key)
        if parsed is None or owner is None:
            return
        self._refused.pop(key, None)
        try:
            await self._apps.read(parsed.app_id, *owner)
            if self._apps.routed(parsed.app_id, parsed.revision):
                await self._apps.delete(parsed.app_id)
        except REQUEST_ERRORS as exc:  # the resync stops it again
            log.warning("could not stop revision %s: %s", key, describe(exc))

    def _revision(self, key: str) -> dict[str, Any] | None:
        for obj in self._cache.objects[KNATIVE_REVISION].values():
            if revision_key_of(obj) == key:
                return obj
        return None


class KnativeRoutes(GatewayRoutes):
    """The route table as the Knative Services' traffic blocks."""

    def __init__(self, api: KubeApi, settings: m.ClusterSettings, apps: KnativeApps) -> None:
        super().__init__(api, settings)
        self._apps = apps

    async def _write_once(self, app_id: str, routes: Sequence[Route]) -> None:
        if not routes:
            await self._apps.delete(app_id)
            self._wanted.pop(app_id, None)
            return
        found = app_of(routes)
        if found is not None:
            await self._apps.set_traffic(app_id, *found, m.knative_traffic(routes))


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in (obj or {}).get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None
