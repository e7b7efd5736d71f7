"""The simulated controllers: Deployments, HorizontalPodAutoscalers, Jobs and Knative
Services/Revisions. `tick` runs every 50 ms on the server's loop, under the store's lock."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid

from tests.support.fakekube.pods import PodSim, PodView, pending_status
from tests.support.fakekube.resources import (
    Obj,
    condition_true,
    digest,
    meta,
    owner_ref,
    rfc3339,
    suffix,
    with_transitions,
)
from tests.support.fakekube.store import Store

log = logging.getLogger("fakekube")

TICK = 0.05
KSVC_LABEL = "serving.knative.dev/service"
REV_LABEL = "serving.knative.dev/revision"
DEFAULT_TRAFFIC: list[Obj] = [{"latestRevision": True, "percent": 100}]


def _traffic_problem(traffic: list[Obj]) -> str | None:
    """Knative's validation of `spec.traffic`, its messages."""
    total, tags = 0, set()
    for i, target in enumerate(traffic):
        latest = target.get("latestRevision") is True
        named = bool(target.get("revisionName"))
        where = f"spec.traffic[{i}]"
        if latest == named:
            got = "both" if latest else "neither"
            return f"expected exactly one, got {got}: {where}.latestRevision, {where}.revisionName"
        percent = target.get("percent", 0) or 0
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            return f"expected 0 <= {percent} <= 100: {where}.percent"
        total += percent
        tag = target.get("tag")
        if tag:
            if tag in tags:
                return f'Multiple definitions for "{tag}": {where}.tag'
            tags.add(tag)
    if traffic and total != 100:
        return f"Traffic targets sum to {total}, want 100: spec.traffic"
    return None


class Controllers:
    def __init__(self, store: Store, *, ready_after: float, hpa_sync_seconds: float) -> None:
        self.store = store
        self.ready_after = ready_after
        self.hpa_sync = hpa_sync_seconds
        self.sims: dict[str, PodSim] = {}  # by pod uid
        self.views: dict[str, PodView] = {}  # as of the last tick, by pod uid
        self.last_hpa = float("-inf")
        self.job_started: dict[str, float] = {}  # monotonic, by job uid
        self.ready_once: set[str] = set()  # Knative revisions (uids) that have been Ready

    async def run(self) -> None:
        while True:
            try:
                with self.store.lock:
                    self.tick(time.monotonic())
            except Exception:
                log.exception("fakekube: a controller failed")
            await asyncio.sleep(TICK)

    def tick(self, now: float) -> None:
        wall = time.time()
        if now - self.last_hpa >= self.hpa_sync:
            self.last_hpa = now
            self._hpas(wall)
        for dep in self.store.items("Deployment"):
            self._deployment_pods(dep, now, wall)
        for rev in self.store.items("Revision"):
            self._revision_pods(rev, now, wall)
        for job in self.store.items("Job"):
            self._job(job, now, wall)
        self._pod_statuses(now)
        for dep in self.store.items("Deployment"):
            self._deployment_status(dep, wall)
        for rev in self.store.items("Revision"):
            self._revision_status(rev, wall)
        for svc in self.store.items("knative.Service"):
            self._kservice_status(svc, wall)

    # pods

    def create_pod(
        self, owner: Obj, base: str, template: Obj, labels: dict[str, str], *, job: bool
    ) -> Obj:
        namespace = owner["metadata"]["namespace"]
        name = f"{base}-{suffix()}"
        while self.store.get("Pod", namespace, name) is not None:
            name = f"{base}-{suffix()}"
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template.get("spec") or {})
        containers = spec.get("containers") or [{}]
        wall = time.time()
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": rfc3339(wall),
                "labels": {**(tmeta.get("labels") or {}), **labels},
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": spec,
            "status": pending_status(containers[0]),
        }
        sim = PodSim.of(
            self.store, pod, ready_after=self.ready_after, now=time.monotonic(), wall=wall, job=job
        )
        self.sims[sim.uid] = sim
        return self.store.put("Pod", pod)

    def _delete_pod(self, pod: Obj) -> None:
        self.store.delete(
            "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"], "Background"
        )

    def _pod_statuses(self, now: float) -> None:
        for uid, sim in list(self.sims.items()):
            pod = self.store.get("Pod", sim.namespace, sim.name)
            if pod is None or pod["metadata"].get("uid") != uid:
                del self.sims[uid]
                self.views.pop(uid, None)
                continue
            view = sim.view(now)
            self.views[uid] = view
            if pod.get("status") != view.status:
                changed = copy.deepcopy(pod)
                changed["status"] = view.status
                self.store.put("Pod", changed)

    def view(self, pod: Obj, now: float | None = None) -> PodView | None:
        sim = self.sims.get(pod["metadata"].get("uid", ""))
        if sim is None:
            return None
        return sim.view(time.monotonic() if now is None else now)

    @staticmethod
    def _ready(pod: Obj) -> bool:
        return condition_true(pod, "Ready") is True

    def _update_status(self, key: str, obj: Obj, status: Obj) -> None:
        if obj.get("status") != status:
            changed = copy.deepcopy(obj)
            changed["status"] = status
            self.store.put(key, changed)

    # Deployments

    def _deployment_pods(self, dep: Obj, now: float, wall: float) -> None:
        spec = dep.get("spec") or {}
        want = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        hashed = digest(template)
        pods = self.store.owned("Pod", dep["metadata"]["namespace"], dep["metadata"]["uid"])
        new = [p for p in pods if meta(p).get("labels", {}).get("pod-template-hash") == hashed]
        old = [p for p in pods if p not in new]
        if len(new) > want:
            for pod in sorted(new, key=self._ready)[: len(new) - want]:
                self._delete_pod(pod)
        for _ in range(want - len(new)):
            labels = {"pod-template-hash": hashed}
            self.create_pod(dep, dep["metadata"]["name"], template, labels, job=False)
        if old and sum(map(self._ready, new)) >= want:
            for pod in old:
                self._delete_pod(pod)

    def _deployment_status(self, dep: Obj, wall: float) -> None:
        spec = dep.get("spec") or {}
        want = int(spec.get("replicas", 1))
        hashed = digest(spec.get("template") or {})
        pods = self.store.owned("Pod", dep["metadata"]["namespace"], dep["metadata"]["uid"])
        new = [p for p in pods if meta(p).get("labels", {}).get("pod-template-hash") == hashed]
        ready = sum(map(self._ready, pods))
        ready_new = sum(map(self._ready, new))
        rs = f"{dep['metadata']['name']}-{hashed}"
        available = ready >= want
        done = len(new) == want == len(pods) and ready_new >= want
        conditions = [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{rs}" has successfully progressed.'
                if done
                else f'ReplicaSet "{rs}" is progressing.',
            },
        ]
        previous = dep.get("status") or {}
        status: Obj = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new),
        }
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        if want - ready > 0:
            status["unavailableReplicas"] = want - ready
        status["conditions"] = with_transitions(previous.get("conditions"), conditions, wall)
        self._update_status("Deployment", dep, status)

    # HorizontalPodAutoscalers

    def _hpas(self, wall: float) -> None:
        for hpa in self.store.items("HorizontalPodAutoscaler"):
            spec = hpa.get("spec") or {}
            ref = spec.get("scaleTargetRef") or {}
            if ref.get("kind") != "Deployment":
                continue
            namespace = hpa["metadata"]["namespace"]
            dep = self.store.get("Deployment", namespace, ref.get("name", ""))
            if dep is None:
                continue
            low = int(spec.get("minReplicas") or 1)
            high = int(spec.get("maxReplicas") or low)
            current = int((dep.get("spec") or {}).get("replicas", 1))
            desired = min(max(current, low), high)
            status = dict(hpa.get("status") or {})
            if desired != current:
                scaled = copy.deepcopy(dep)
                scaled.setdefault("spec", {})["replicas"] = desired
                scaled["metadata"]["generation"] = scaled["metadata"].get("generation", 1) + 1
                self.store.put("Deployment", scaled)
                status["lastScaleTime"] = rfc3339(wall)
            status.update(
                currentReplicas=current,
                desiredReplicas=desired,
                observedGeneration=hpa["metadata"].get("generation", 1),
            )
            self._update_status("HorizontalPodAutoscaler", hpa, status)

    # Jobs

    def _job(self, job: Obj, now: float, wall: float) -> None:
        status = dict(job.get("status") or {})
        if any(c.get("status") == "True" for c in status.get("conditions") or []):
            return
        uid, name = job["metadata"]["uid"], job["metadata"]["name"]
        namespace = job["metadata"]["namespace"]
        spec = job.get("spec") or {}
        if uid not in self.job_started:
            self.job_started[uid] = now
            labels = {
                "job-name": name,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "batch.kubernetes.io/controller-uid": uid,
            }
            self.create_pod(job, name, spec.get("template") or {}, labels, job=True)
            status.update(startTime=rfc3339(wall), active=1)
            self._update_status("Job", job, status)
            return
        pods = self.store.owned("Pod", namespace, uid)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and now - self.job_started[uid] >= float(deadline):
            for pod in pods:
                self._delete_pod(pod)
            self._finish(job, status, False, "DeadlineExceeded", "Job was active longer than "
                         "specified deadline", wall)  # fmt: skip
            return
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Succeeded":
                message = "Reached expected number of succeeded pods"
                self._finish(job, status, True, "CompletionsReached", message, wall)
            elif phase == "Failed":
                message = "Job has reached the specified backoff limit"
                self._finish(job, status, False, "BackoffLimitExceeded", message, wall)

    def _finish(
        self, job: Obj, status: Obj, ok: bool, reason: str, message: str, wall: float
    ) -> None:
        status.pop("active", None)
        status["succeeded" if ok else "failed"] = 1
        if ok:
            status["completionTime"] = rfc3339(wall)
        condition = {"type": "Complete" if ok else "Failed", "status": "True"}
        condition.update(reason=reason, message=message)
        status["conditions"] = with_transitions(None, [condition], wall)
        self._update_status("Job", job, status)

    # Knative

    def admit_kservice(self, namespace: str, body: Obj) -> tuple[int, str] | None:
        """The Knative webhook's checks of a Service about to be applied: (code, message)."""
        spec = body.get("spec") or {}
        template = spec.get("template") or {}
        name = (template.get("metadata") or {}).get("name")
        if not name:
            return 400, "missing field(s): spec.template.metadata.name (fakekube requires it)"
        traffic = spec.get("traffic")
        if traffic is not None:
            if not isinstance(traffic, list):
                return 422, "expected a list: spec.traffic"
            problem = _traffic_problem(traffic)
            if problem:
                return 422, problem
        rev = self.store.get("Revision", namespace, name)
        if rev is not None and rev.get("spec") != (template.get("spec") or {}):
            return 409, (
                "Saw the following changes without a name change (-old +new): "
                f'spec.template.spec of revision "{name}"'
            )
        return None

    def ensure_revision(self, svc: Obj) -> None:
        template = (svc.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        namespace, name = svc["metadata"]["namespace"], tmeta["name"]
        if self.store.get("Revision", namespace, name) is not None:
            return
        svc_name = svc["metadata"]["name"]
        rev: Obj = {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Revision",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": rfc3339(time.time()),
                "generation": 1,
                "labels": {
                    **(tmeta.get("labels") or {}),
                    KSVC_LABEL: svc_name,
                    "serving.knative.dev/configuration": svc_name,
                    "serving.knative.dev/configurationGeneration": str(
                        svc["metadata"].get("generation", 1)
                    ),
                },
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [owner_ref(svc)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        self.store.put("Revision", rev)

    def _service_of(self, rev: Obj) -> Obj | None:
        name = meta(rev).get("labels", {}).get(KSVC_LABEL, "")
        return self.store.get("knative.Service", rev["metadata"]["namespace"], name)

    def _wanted_scale(self, rev: Obj) -> int:
        svc = self._service_of(rev)
        if svc is None:
            return 0
        spec = svc.get("spec") or {}
        latest = ((spec.get("template") or {}).get("metadata") or {}).get("name")
        routable, percent = False, 0
        for target in spec.get("traffic") or DEFAULT_TRAFFIC:
            name = latest if target.get("latestRevision") else target.get("revisionName")
            if name != rev["metadata"]["name"]:
                continue
            share = int(target.get("percent") or 0)
            routable = routable or share > 0 or bool(target.get("tag"))
            percent += share
        annotations = meta(rev).get("annotations") or {}
        if rev["metadata"]["uid"] not in self.ready_once:
            # Like Knative: a new revision starts `initial-scale` pods (default 1) to become
            # Ready, routed or not; after that, an unroutable one goes to zero.
            initial = int(annotations.get("autoscaling.knative.dev/initial-scale", 1))
            if not routable:
                return initial
        elif not routable:
            return 0
        scale = int(annotations.get("autoscaling.knative.dev/min-scale", 1))
        if percent > 0:
            scale = max(scale, 1)
        top = int(annotations.get("autoscaling.knative.dev/max-scale", 0))
        return min(scale, top) if top > 0 else scale

    def _revision_pods(self, rev: Obj, now: float, wall: float) -> None:
        want = self._wanted_scale(rev)
        namespace, name = rev["metadata"]["namespace"], rev["metadata"]["name"]
        pods = self.store.owned("Pod", namespace, rev["metadata"]["uid"])
        if len(pods) > want:
            for pod in sorted(pods, key=self._ready)[: len(pods) - want]:
                self._delete_pod(pod)
        rlabels = meta(rev).get("labels") or {}
        template = {"metadata": {"labels": rlabels}, "spec": rev.get("spec") or {}}
        labels = {REV_LABEL: name}
        for _ in range(want - len(pods)):
            self.create_pod(rev, f"{name}-deployment", template, labels, job=False)

    def _revision_status(self, rev: Obj, wall: float) -> None:
        want = self._wanted_scale(rev)
        pods = self.store.owned("Pod", rev["metadata"]["namespace"], rev["metadata"]["uid"])
        ready = sum(map(self._ready, pods))
        failures = [
            view.failure
            for pod in pods
            if (view := self.views.get(pod["metadata"]["uid"])) and view.failure
        ]
        healthy: Obj = {"status": "True"}
        resources: Obj = {"status": "True"}
        if want and failures:
            reason, message = failures[0]
            failed = {"status": "False", "reason": reason, "message": message}
            if reason == "ImagePullBackOff":
                resources, healthy = failed, {"status": "Unknown", "reason": "Deploying"}
            else:
                healthy = failed
        elif want and ready < want:
            healthy = resources = {"status": "Unknown", "reason": "Deploying"}
        top = next((c for c in (healthy, resources) if c["status"] == "False"), None)
        top = top or next((c for c in (healthy, resources) if c["status"] == "Unknown"), healthy)
        conditions = [
            {"type": "Ready", **top},
            {"type": "ContainerHealthy", **healthy},
            {"type": "ResourcesAvailable", **resources},
        ]
        if top["status"] == "True" and want and ready >= want:
            self.ready_once.add(rev["metadata"]["uid"])
        previous = (rev.get("status") or {}).get("conditions")
        status = {
            "observedGeneration": rev["metadata"].get("generation", 1),
            "actualReplicas": ready,
            "desiredReplicas": want,
            "conditions": with_transitions(previous, conditions, wall),
        }
        self._update_status("Revision", rev, status)

    def _kservice_status(self, svc: Obj, wall: float) -> None:
        namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        spec = svc.get("spec") or {}
        previous = svc.get("status") or {}
        latest = ((spec.get("template") or {}).get("metadata") or {}).get("name", "")
        latest_rev = self.store.get("Revision", namespace, latest)
        latest_ok = condition_true(latest_rev, "Ready") if latest_rev else None
        ready_name = previous.get("latestReadyRevisionName")
        if latest_ok:
            ready_name = latest
        elif ready_name and self.store.get("Revision", namespace, ready_name) is None:
            ready_name = None
        config: Obj = {"status": "Unknown", "reason": "Deploying"}
        if latest_ok:
            config = {"status": "True"}
        elif latest_ok is False and latest_rev is not None:
            why = next(c for c in latest_rev["status"]["conditions"] if c["type"] == "Ready")
            message = f'Revision "{latest}" failed with message: {why.get("message", "")}.'
            config = {"status": "False", "reason": "RevisionFailed", "message": message}
        routes: Obj = {"status": "True"}
        traffic = []
        for target in spec.get("traffic") or DEFAULT_TRAFFIC:
            entry = copy.deepcopy(target)
            if target.get("latestRevision"):
                entry["revisionName"] = ready_name
                if not ready_name:
                    routes = {"status": "Unknown", "reason": "RevisionMissing"}
            else:
                entry["latestRevision"] = False
                rev = self.store.get("Revision", namespace, target.get("revisionName", ""))
                if rev is None:
                    message = (
                        f'Revision "{target.get("revisionName")}" referenced in traffic not found.'
                    )
                    routes = {"status": "False", "reason": "RevisionMissing", "message": message}
                elif not condition_true(rev, "Ready") and routes["status"] == "True":
                    routes = {"status": "Unknown", "reason": "RevisionNotReady"}
            if target.get("tag"):
                entry["url"] = f"http://{target['tag']}-{name}.{namespace}.example.com"
            traffic.append(entry)
        parts = (config, routes)
        top = next((c for c in parts if c["status"] == "False"), None)
        top = top or next((c for c in parts if c["status"] == "Unknown"), config)
        conditions = [
            {"type": "Ready", **top},
            {"type": "ConfigurationsReady", **config},
            {"type": "RoutesReady", **routes},
        ]
        status: Obj = {
            "observedGeneration": svc["metadata"].get("generation", 1),
            "url": f"http://{name}.{namespace}.example.com",
            "address": {"url": f"http://{name}.{namespace}.svc.cluster.local"},
            "traffic": traffic,
            "conditions": with_transitions(previous.get("conditions"), conditions, wall),
        }
        if latest_rev is not None:
            status["latestCreatedRevisionName"] = latest
        if ready_name:
            status["latestReadyRevisionName"] = ready_name
        self._update_status("knative.Service", svc, status)
