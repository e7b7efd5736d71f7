"""The fake Kubernetes API server (tests/support/fakekube) against plain httpx: the REST
surface, watches, and what its simulated controllers make of the objects applied."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from tests.support.fakekube import FakeCluster

T = TypeVar("T")
Obj = dict[str, Any]
AUTH = {"Authorization": "Bearer fake-token"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}
SSA = {"fieldManager": "slipway", "force": "true"}
APPS = "/apis/apps/v1/namespaces"
BATCH = "/apis/batch/v1/namespaces"
KN = "/apis/serving.knative.dev/v1/namespaces"


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(knative=True, ready_after=0.2, hpa_sync_seconds=0.4) as fake:
        yield fake


@pytest.fixture
def kube(cluster: FakeCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, headers=AUTH, timeout=5) as client:
        yield client


def eventually(check: Callable[[], T | None], timeout: float = 3.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.05)


def apply(kube: httpx.Client, path: str, body: Obj) -> httpx.Response:
    return kube.patch(path, params=SSA, content=json.dumps(body), headers=APPLY)


def namespace(kube: httpx.Client, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    assert apply(kube, f"/api/v1/namespaces/{name}", body).status_code in (200, 201)


def secret(kube: httpx.Client, ns: str, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
    assert apply(kube, f"/api/v1/namespaces/{ns}/secrets/{name}", body).status_code in (200, 201)


def container(image: str = "registry.local/app:1", **extra: Any) -> Obj:
    return {"name": "app", "image": image, **extra}


def deployment(name: str, replicas: int | None = 1, **container_fields: Any) -> Obj:
    labels = {"app": name}
    spec: Obj = {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [container(**container_fields)]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"slipway.dev/app": name}},
        "spec": spec,
    }


def ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def first_container(pod: Obj) -> Obj:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    result: Obj = statuses[0]
    return result


def status_of(kube: httpx.Client, path: str) -> Obj:
    response = kube.get(path)
    response.raise_for_status()
    status: Obj = response.json().get("status") or {}
    return status


def conditions_of(status: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in status.get("conditions") or []}


def job_pods(cluster: FakeCluster, name: str) -> list[Obj]:
    return [p for p in cluster.pods("jobs") if p["metadata"]["labels"].get("job-name") == name]


def test_a_deployment_gets_its_pods_ready_and_its_status(
    cluster: FakeCluster, kube: httpx.Client
) -> None:
    namespace(kube, "web")
    secret(kube, "web", "web-env", {"PORT": "9000"})
    body = deployment("web", 2, envFrom=[{"secretRef": {"name": "web-env"}}])
    created = apply(kube, f"{APPS}/web/deployments/web", body)
    assert created.status_code == 201
    assert created.json()["metadata"]["generation"] == 1

    def two_ready() -> list[Obj] | None:
        pods = cluster.pods("web")
        return pods if len(pods) == 2 and all(map(ready, pods)) else None

    pods = eventually(two_ready, 2.0)
    assert {pod["metadata"]["labels"]["app"] for pod in pods} == {"web"}
    dep = cluster.get("Deployment", "web", "web")
    assert dep is not None
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"] for p in pods)
    assert all(p["metadata"]["name"].startswith("web-") for p in pods)
    status = eventually(
        lambda: (
            (s := status_of(kube, f"{APPS}/web/deployments/web")).get("readyReplicas") == 2 and s
        )
    )
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"

    log = kube.get(f"/api/v1/namespaces/web/pods/{pods[0]['metadata']['name']}/log")
    assert log.text == "listening on :9000\n"

    listed = kube.get("/api/v1/namespaces/web/pods", params={"labelSelector": "app=web"}).json()
    assert listed["kind"] == "PodList" and len(listed["items"]) == 2
    assert int(listed["metadata"]["resourceVersion"]) > 0
    assert kube.get("/api/v1/pods", params={"labelSelector": "app=nope"}).json()["items"] == []
    hashed = kube.get("/api/v1/pods", params={"labelSelector": "pod-template-hash"}).json()
    assert len(hashed["items"]) >= 2
    everywhere = kube.get("/apis/apps/v1/deployments").json()
    assert "web" in {d["metadata"]["name"] for d in everywhere["items"]}

    # Re-applied without replicas: the stored count stays (the HPA's field); a template
    # change bumps the generation and replaces the pods.
    kube.patch(
        f"{APPS}/web/deployments/web/scale",
        content=json.dumps({"spec": {"replicas": 3}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()
    changed = deployment("web", None, image="registry.local/app:2")
    again = apply(kube, f"{APPS}/web/deployments/web", changed)
    assert again.status_code == 200
    assert again.json()["spec"]["replicas"] == 3
    assert again.json()["metadata"]["generation"] == 3  # scale, then the template

    def rolled() -> bool:
        pods = cluster.pods("web")
        images = {pod["spec"]["containers"][0]["image"] for pod in pods}
        return len(pods) == 3 and images == {"registry.local/app:2"} and all(map(ready, pods))

    eventually(rolled)


def test_watch_sends_the_current_objects_then_the_changes(
    cluster: FakeCluster, kube: httpx.Client
) -> None:
    namespace(kube, "watched")
    apply(kube, f"{APPS}/watched/deployments/before", deployment("before"))
    seen: list[tuple[str, str]] = []
    params = {"watch": "1", "timeoutSeconds": "3"}
    with kube.stream("GET", f"{APPS}/watched/deployments", params=params) as stream:
        assert stream.headers["content-type"].startswith("application/json")
        apply(kube, f"{APPS}/watched/deployments/after", deployment("after"))
        for line in stream.iter_lines():
            event = json.loads(line)
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if ("MODIFIED", "after") in seen:
                break
    assert seen[0] == ("ADDED", "before")
    assert ("ADDED", "after") in seen

    # From a resourceVersion: only what changed after it, no snapshot first.
    rv = kube.get(f"{APPS}/watched/deployments").json()["metadata"]["resourceVersion"]
    kube.delete(f"{APPS}/watched/deployments/before").raise_for_status()
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}
    params["labelSelector"] = "slipway.dev/app=before"
    with kube.stream("GET", f"{APPS}/watched/deployments", params=params) as stream:
        events = [json.loads(line) for line in stream.iter_lines()]
    assert [e["type"] for e in events] == ["DELETED"]

    # Pods across all namespaces, through a selector.
    params = {"watch": "1", "timeoutSeconds": "2", "labelSelector": "app=after"}
    with kube.stream("GET", "/api/v1/pods", params=params) as stream:
        kinds = set()
        for line in stream.iter_lines():
            kinds.add(json.loads(line)["type"])
            break
    assert kinds == {"ADDED"}


def test_pod_behaviours_show_in_their_statuses(cluster: FakeCluster, kube: httpx.Client) -> None:
    namespace(kube, "sick")
    secret(kube, "sick", "oom-env", {"FAKEKUBE_BEHAVIOUR": "oom"})
    inline = [{"name": "FAKEKUBE_BEHAVIOUR", "value": "crashloop"}]
    from_key = [
        {
            "name": "FAKEKUBE_BEHAVIOUR",
            "valueFrom": {"secretKeyRef": {"name": "oom-env", "key": "FAKEKUBE_BEHAVIOUR"}},
        }
    ]
    apply(kube, f"{APPS}/sick/deployments/crash", deployment("crash", env=inline))
    apply(kube, f"{APPS}/sick/deployments/oom", deployment("oom", env=from_key))
    apply(kube, f"{APPS}/sick/deployments/pull", deployment("pull", image="x/does-not-exist:1"))
    slow = [{"name": "FAKEKUBE_BEHAVIOUR", "value": "never-ready"}]
    apply(kube, f"{APPS}/sick/deployments/slow", deployment("slow", env=slow))

    def pod(app: str) -> Obj:
        found = [p for p in cluster.pods("sick") if p["metadata"]["labels"]["app"] == app]
        return found[0] if found else {}

    def backing_off() -> Obj | None:
        found = pod("crash")
        waiting = first_container(found).get("state", {}).get("waiting", {})
        return found if waiting.get("reason") == "CrashLoopBackOff" else None

    crash = eventually(backing_off)
    status = first_container(crash)
    assert status["restartCount"] >= 1 and not status["ready"]
    assert status["lastState"]["terminated"] == status["lastState"]["terminated"] | {
        "exitCode": 1,
        "reason": "Error",
    }
    assert (
        "back-off 10s restarting failed container=app pod="
        in (status["state"]["waiting"]["message"])
    )
    log = kube.get(f"/api/v1/namespaces/sick/pods/{crash['metadata']['name']}/log")
    assert log.text.startswith("boom: crashing on purpose\n")

    oom = eventually(lambda: first_container(pod("oom")).get("lastState", {}).get("terminated"))
    assert oom["reason"] == "OOMKilled" and oom["exitCode"] == 137

    pulling = eventually(lambda: first_container(pod("pull")).get("state", {}).get("waiting"))
    assert pulling == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "x/does-not-exist:1"',
    }
    time.sleep(0.3)
    never = pod("slow")
    assert never["status"]["phase"] == "Running" and not ready(never)
    reasons = {c["type"]: c.get("reason") for c in never["status"]["conditions"]}
    assert reasons["Ready"] == "ContainersNotReady"
    dep = kube.get(f"{APPS}/sick/deployments/slow").json()
    assert "readyReplicas" not in dep["status"]
    assert dep["status"]["unavailableReplicas"] == 1


def test_a_scale_below_the_hpa_minimum_is_clamped_back(
    cluster: FakeCluster, kube: httpx.Client
) -> None:
    namespace(kube, "scaled")
    apply(kube, f"{APPS}/scaled/deployments/api", deployment("api", 3))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    path = "/apis/autoscaling/v2/namespaces/scaled/horizontalpodautoscalers/api"
    assert apply(kube, path, hpa).status_code == 201
    scale = f"{APPS}/scaled/deployments/api/scale"
    merge = {"Content-Type": "application/merge-patch+json"}
    wrong = kube.patch(scale, content=b'{"spec":{"replicas":1}}', headers=APPLY, params=SSA)
    assert wrong.status_code == 415
    answer = kube.patch(scale, content=b'{"spec":{"replicas":1}}', headers=merge)
    assert answer.json()["spec"]["replicas"] == 1
    assert kube.get(scale).json()["kind"] == "Scale"
    eventually(lambda: kube.get(scale).json()["spec"]["replicas"] == 2, 2.0)
    status = eventually(lambda: (s := status_of(kube, path)).get("lastScaleTime") and s)
    assert status["desiredReplicas"] == 2
    eventually(lambda: len(cluster.pods("scaled")) == 2)


def job(name: str, command: list[str], **container_fields: Any) -> Obj:
    containers = [container(command=command, **container_fields)]
    template = {"spec": {"restartPolicy": "Never", "containers": containers}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": template},
    }


def condition(obj: Obj | None, kind: str) -> Obj | None:
    for cond in (obj or {}).get("status", {}).get("conditions") or []:
        if cond["type"] == kind and cond["status"] == "True":
            return dict(cond)
    return None


def test_jobs_run_their_command_and_finish(cluster: FakeCluster, kube: httpx.Client) -> None:
    namespace(kube, "jobs")
    secret(kube, "jobs", "job-env", {"SECRET_KEY": "hush", "DATABASE_URL": "x"})
    env_from = [{"secretRef": {"name": "job-env"}}]
    command = ["python", "manage.py", "migrate"]
    migrate = job("migrate", command, envFrom=env_from, env=[{"name": "A", "value": "1"}])
    apply(kube, f"{BATCH}/jobs/jobs/migrate", migrate)
    apply(kube, f"{BATCH}/jobs/jobs/fail", job("fail", ["sh", "-c", "exit 3"]))
    hang = job("hang", ["sleep"], env=[{"name": "FAKEKUBE_BEHAVIOUR", "value": "hang"}])
    hang["spec"]["activeDeadlineSeconds"] = 1
    apply(kube, f"{BATCH}/jobs/jobs/hang", hang)

    pod = eventually(lambda: job_pods(cluster, "migrate"))[0]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "migrate"
    path = f"/api/v1/namespaces/jobs/pods/{pod['metadata']['name']}/log"
    with kube.stream("GET", path, params={"follow": "true"}) as stream:
        lines = list(stream.iter_lines())
    assert lines == ["running: python manage.py migrate", "A", "DATABASE_URL", "SECRET_KEY", "done"]

    done = eventually(lambda: condition(cluster.get("Job", "jobs", "migrate"), "Complete"))
    assert done["reason"]
    finished = cluster.get("Job", "jobs", "migrate")
    assert finished is not None and finished["status"]["succeeded"] == 1
    assert finished["status"]["startTime"] and finished["status"]["completionTime"]
    assert job_pods(cluster, "migrate")[0]["status"]["phase"] == "Succeeded"

    eventually(lambda: condition(cluster.get("Job", "jobs", "fail"), "Failed"))
    failed = job_pods(cluster, "fail")
    assert failed[0]["status"]["phase"] == "Failed"
    assert first_container(failed[0])["state"]["terminated"]["exitCode"] == 3
    assert first_container(failed[0])["state"]["terminated"]["reason"] == "Error"

    deadline = eventually(lambda: condition(cluster.get("Job", "jobs", "hang"), "Failed"), 3.0)
    assert deadline["reason"] == "DeadlineExceeded"
    assert not job_pods(cluster, "hang")


def test_deletes_collect_the_garbage(cluster: FakeCluster, kube: httpx.Client) -> None:
    namespace(kube, "gc")
    apply(kube, f"{APPS}/gc/deployments/a", deployment("a", 2))
    apply(kube, f"{APPS}/gc/deployments/b", deployment("b", 1))
    eventually(lambda: len(cluster.pods("gc")) == 3)
    gone = kube.delete(f"{APPS}/gc/deployments/a", params={"propagationPolicy": "Foreground"})
    assert gone.status_code == 200 and gone.json()["metadata"]["name"] == "a"
    assert {p["metadata"]["labels"]["app"] for p in cluster.pods("gc")} == {"b"}
    assert kube.delete(f"{APPS}/gc/deployments/a").status_code == 404

    orphan = kube.request(
        "DELETE", f"{APPS}/gc/deployments/b", content=json.dumps({"propagationPolicy": "Orphan"})
    )
    assert orphan.status_code == 200
    left = cluster.pods("gc")
    assert len(left) == 1 and left[0]["metadata"]["ownerReferences"] == []

    apply(kube, f"{APPS}/gc/deployments/c", deployment("c", 1))
    eventually(lambda: len(cluster.pods("gc")) == 2)
    assert kube.delete("/api/v1/namespaces/gc").status_code == 200
    assert cluster.pods("gc") == [] and cluster.objects("Deployment", "gc") == []
    assert cluster.get("Namespace", None, "gc") is None
    assert [verb for verb, path, _ in cluster.applied() if path.endswith("/gc")] == [
        "apply",
        "delete",
    ]


def test_the_api_refuses_what_the_real_one_refuses(
    cluster: FakeCluster, kube: httpx.Client
) -> None:
    with httpx.Client(base_url=cluster.url, timeout=5) as anonymous:
        denied = anonymous.get("/api/v1/namespaces")
    assert denied.status_code == 401 and denied.json()["kind"] == "Status"

    namespace(kube, "strict")
    path = f"{APPS}/strict/deployments/web"
    wrong_kind = apply(kube, path, {**deployment("web"), "kind": "StatefulSet"})
    assert wrong_kind.status_code == 400 and wrong_kind.json()["reason"] == "BadRequest"
    assert apply(kube, f"{APPS}/strict/deployments/other", deployment("web")).status_code == 400
    foreign = deployment("web")
    foreign["metadata"]["namespace"] = "elsewhere"
    assert apply(kube, path, foreign).status_code == 400
    no_manager = kube.patch(path, content=json.dumps(deployment("web")), headers=APPLY)
    assert no_manager.status_code == 400
    merge = {"Content-Type": "application/merge-patch+json"}
    assert kube.patch(path, params=SSA, content=b"{}", headers=merge).status_code == 415
    nowhere = apply(kube, f"{APPS}/nowhere/deployments/web", deployment("web"))
    assert nowhere.status_code == 404
    assert nowhere.json()["message"] == 'namespaces "nowhere" not found'

    missing = kube.get(f"{APPS}/strict/deployments/x")
    assert missing.status_code == 404
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "x" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "x", "group": "apps", "kind": "deployments"},
    }

    cluster.fail_next("PATCH", "/deployments/web", status=503, times=2)
    assert apply(kube, path, deployment("web")).status_code == 503
    assert apply(kube, path, deployment("web")).status_code == 503
    assert apply(kube, path, deployment("web")).status_code == 201
    assert ("PATCH", f"{path}?fieldManager=slipway&force=true") in cluster.requests()
    assert cluster.applied()[-1] == ("apply", path, deployment("web"))


def ksvc(name: str, revision: str, traffic: list[Obj] | None = None, **fields: Any) -> Obj:
    spec: Obj = {
        "template": {
            "metadata": {
                "name": revision,
                "labels": {"slipway.dev/app": name},
                "annotations": {"autoscaling.knative.dev/min-scale": "1"},
            },
            "spec": {"containers": [container(**fields)]},
        }
    }
    if traffic is not None:
        spec["traffic"] = traffic
    body = {"apiVersion": "serving.knative.dev/v1", "kind": "Service"}
    return {**body, "metadata": {"name": name}, "spec": spec}


def test_knative_services_make_revisions_with_pods(
    cluster: FakeCluster, kube: httpx.Client
) -> None:
    namespace(kube, "kn")
    path = f"{KN}/kn/services/site"
    assert apply(kube, path, ksvc("site", "site-00001")).status_code == 201
    rev = cluster.get("Revision", "kn", "site-00001")
    assert rev is not None
    assert rev["metadata"]["labels"]["serving.knative.dev/service"] == "site"
    assert rev["metadata"]["labels"]["serving.knative.dev/configurationGeneration"] == "1"
    assert rev["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "1"
    status = eventually(lambda: (s := status_of(kube, path)).get("latestReadyRevisionName") and s)
    assert status["latestCreatedRevisionName"] == "site-00001"
    assert status["url"] == "http://site.kn.example.com"
    assert status["traffic"][0]["revisionName"] == "site-00001"
    pods = cluster.pods("kn")
    assert len(pods) == 1 and pods[0]["metadata"]["labels"]["serving.knative.dev/revision"] == (
        "site-00001"
    )

    short = [{"revisionName": "site-00001", "percent": 90}]
    bad = apply(kube, path, ksvc("site", "site-00002", short))
    assert bad.status_code == 422 and "sum to 90" in bad.json()["message"]
    both = [{"revisionName": "site-00001", "latestRevision": True, "percent": 100}]
    assert apply(kube, path, ksvc("site", "site-00002", both)).status_code == 422
    changed = apply(kube, path, ksvc("site", "site-00001", image="registry.local/app:2"))
    assert changed.status_code == 409

    traffic = [
        {"revisionName": "site-00001", "percent": 100},
        {"revisionName": "site-00002", "percent": 0, "tag": "next"},
    ]
    crashing = [{"name": "FAKEKUBE_BEHAVIOUR", "value": "crashloop"}]
    broken = ksvc("site", "site-00002", traffic, env=crashing)
    assert apply(kube, path, broken).status_code == 200
    assert len(kube.get(f"{KN}/kn/revisions").json()["items"]) == 2
    rev_path = f"{KN}/kn/revisions/site-00002"

    def unhealthy() -> Obj | None:
        found = conditions_of(status_of(kube, rev_path)).get("ContainerHealthy", {})
        return found if found.get("status") == "False" else None

    assert eventually(unhealthy)["reason"] == "ExitCode1"
    status = eventually(
        lambda: (s := status_of(kube, path))["latestCreatedRevisionName"] == "site-00002" and s
    )
    assert status["latestReadyRevisionName"] == "site-00001"
    assert status["traffic"][1]["url"] == "http://next-site.kn.example.com"
    ready_cond = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready_cond["status"] == "False"
    assert {
        p["metadata"]["labels"]["serving.knative.dev/revision"] for p in cluster.pods("kn")
    } == {
        "site-00001",
        "site-00002",
    }

    assert kube.delete(path).status_code == 200
    assert cluster.objects("Revision", "kn") == [] and cluster.pods("kn") == []
    assert cluster.objects("knative.Service") == []


def test_discovery_version_and_kubeconfig(
    cluster: FakeCluster, kube: httpx.Client, tmp_path: Path
) -> None:
    assert kube.get("/version").json()["gitVersion"] == "v1.36.0"
    assert kube.get("/apis/gateway.networking.k8s.io/v1").status_code == 200
    knative = kube.get("/apis/serving.knative.dev/v1").json()
    assert knative["groupVersion"] == "serving.knative.dev/v1"
    assert {r["name"] for r in knative["resources"]} == {"services", "revisions"}

    with FakeCluster() as plain, httpx.Client(base_url=plain.url, headers=AUTH) as client:
        assert client.get("/apis/serving.knative.dev/v1").status_code == 404
        assert client.get("/apis/serving.knative.dev/v1/revisions").status_code == 404
        config = yaml.safe_load(plain.kubeconfig(tmp_path / "kubeconfig").read_text())
        assert config["clusters"][0]["cluster"]["server"] == plain.url
        assert config["users"][0]["user"]["token"] == "fake-token"
        assert config["current-context"] == "fake"
        # An open watch does not hold up stop().
        with client.stream("GET", "/api/v1/namespaces", params={"watch": "1"}) as stream:
            lines = stream.iter_lines()
            assert json.loads(next(lines))["type"] == "ADDED"
            stopper = threading.Thread(target=plain.stop)
            started = time.monotonic()
            stopper.start()
            assert list(lines) == []
            stopper.join()
        assert time.monotonic() - started < 3
