"""The seed's flows through the API with `--runtime kubernetes`, against the fake API server
(`tests/support/fakekube`; no real cluster is reachable from these machines): a real build
pushed to a real registry (Debian's docker-registry), then deploy, Runtime Status read from
the cluster, scale (with the HPA holding its minimum), a release command as a Job, a second
revision, traffic with tags, promote, rollback, a crash loop's reason, delete. What Slipway
wrote is compared with snapshots (`tests/e2e/snapshots/`; `SLIPWAY_UPDATE_SNAPSHOTS=1`
rewrites them) and every object is validated against the Kubernetes (three minor versions)
and Gateway API schemas."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import Platform, start_platform, stop_platform, wait_for
from tests.integration.builder.registry_server import running_registry
from tests.support.fakekube import FakeCluster
from tests.support.kuberbac import unauthorized
from tests.support.kubeschemas import assert_valid

pytestmark = pytest.mark.e2e

SNAPSHOTS = Path(__file__).parent / "snapshots"
FINISHED = {"succeeded", "failed", "cancelled"}
KINDS = ("Namespace", "NetworkPolicy", "Secret", "Deployment", "Service",
         "HorizontalPodAutoscaler", "HTTPRoute", "Job", "knative.Service")  # fmt: skip


@pytest.fixture(params=["plain"])
def cluster(request: pytest.FixtureRequest) -> Iterator[FakeCluster]:
    knative = request.param == "knative"
    with FakeCluster(ready_after=0.3, hpa_sync_seconds=1.0, knative=knative) as fake:
        yield fake


@pytest.fixture
def on_cluster(tmp_path: Path, cluster: FakeCluster) -> Iterator[Platform]:
    with running_registry(tmp_path / "registry") as registry:
        running = start_platform(
            tmp_path,
            extra_env={
                "SLIPWAY_RUNTIME": "kubernetes",
                "SLIPWAY_KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
                "SLIPWAY_REGISTRY": registry,
                "SLIPWAY_GATEWAY": "edge/public",
            },
        )
        try:
            yield running
        finally:
            stop_platform(running)


def until(check: Any, *, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def deploy(api: Any, ws: str, app_id: str, **extra: object) -> dict[str, Any]:
    r = api.post(f"/workspaces/{ws}/deploy", json={"appId": app_id, **extra})
    assert r.status_code == 202, r.text
    return wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)


def version(n: int) -> dict[str, str]:
    return {"main.py": PYTHON_APP.replace('"hello"', f'"v{n}"'), "requirements.txt": ""}


def new_app(
    platform: Platform, make_repo: Any, workspace: str, name: str, **fields: object
) -> tuple[Any, str, Any, dict[str, Any]]:
    """(API client, workspace id, repository, app) for a new app of a new workspace, its
    repository at version 1."""
    ws, key = platform.workspace(workspace)
    api = platform.client(key)
    repo = make_repo(name)
    repo.commit(version(1), "v1")
    body = {"name": name, "gitUrl": repo.url, **fields}
    answer = api.post(f"/workspaces/{ws}/apps", json=body)
    assert answer.status_code == 201, answer.text
    return api, ws, repo, answer.json()


def weights(cluster: FakeCluster, host: str) -> list[tuple[str, int]]:
    for route in cluster.objects("HTTPRoute"):
        if route["spec"]["hostnames"] == [host]:
            refs = route["spec"]["rules"][0]["backendRefs"]
            return [(r["name"], r["weight"]) for r in refs]
    return []


def test_deploy_scale_traffic_promote_rollback_on_a_cluster(
    on_cluster: Platform, cluster: FakeCluster, make_repo: Any
) -> None:
    api, ws, repo, app = new_app(
        on_cluster, make_repo, "acme", "api", releaseCommand="python3 migrate.py",
        env={"DATABASE_URL": "postgres://app:hunter2@db/app"},
    )  # fmt: skip
    host = "api.acme.localhost"

    first = deploy(api, ws, app["id"])
    assert first["status"] == "succeeded", first
    logs = api.get(f"/workspaces/{ws}/deploy/{first['id']}/logs").json()["logs"]
    assert any("running: /bin/sh -c python3 migrate.py" in line for line in logs), logs
    assert weights(cluster, host) == [("api-00001", 100)]
    status_url = f"/workspaces/{ws}/deploy/{first['id']}/runtime-status"
    status = api.get(status_url).json()
    assert (status["phase"], status["ready"], status["total"]) == ("Running", 1, 1), status
    assert status["limits"]["enforcedBy"] == "kubernetes"
    # The replica's output, followed from the cluster, in the app's runtime logs.
    logs_url = f"/workspaces/{ws}/apps/{app['id']}/logs"
    line = until(lambda: next(iter(api.get(logs_url).json()["logs"]), None))
    assert (line["revision"], line["line"]) == ("api-00001", "listening on :8080"), line

    # Scale: the Deployment's replicas, ready as the cluster reports them. The API server
    # refuses the first write (a quota, say): the answer is still the stored intent, not a
    # 500, and the reconciler's resync writes it.
    cluster.fail_next("PATCH", "/deployments/", status=403)
    r = api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 3})
    assert r.status_code == 200, r.text
    until(lambda: api.get(status_url).json()["ready"] == 3)
    (dep,) = cluster.objects("Deployment")
    assert dep["spec"]["replicas"] == 3

    # A second revision, its own Deployment and Service; traffic moves once it is ready.
    repo.commit(version(2), "v2")
    second = deploy(api, ws, app["id"])
    assert second["status"] == "succeeded", second
    assert weights(cluster, host) == [("api-00002", 100)]
    until(lambda: [d["metadata"]["name"] for d in cluster.objects("Deployment")] == ["api-00002"])

    # Traffic with tags, then promote, then rollback: the HTTPRoutes follow.
    splits = [
        {"revisionName": "api-00001", "percent": 10, "tag": "canary"},
        {"revisionName": "api-00002", "percent": 90, "tag": "stable"},
    ]
    r = api.post(f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic", json={"splits": splits})
    assert r.status_code == 200, r.text
    assert sorted(weights(cluster, host)) == [("api-00001", 10), ("api-00002", 90)]
    assert weights(cluster, "canary---" + host) == [("api-00001", 100)]
    assert weights(cluster, "stable---" + host) == [("api-00002", 100)]
    snapshot("kubernetes-split", cluster)

    r = api.post(f"/workspaces/{ws}/deploy/revisions/api-00001/promote")
    assert r.status_code == 200, r.text
    assert weights(cluster, host) == [("api-00001", 100)]
    r = api.post(f"/workspaces/{ws}/deploy/{second['id']}/rollback")
    assert r.status_code == 202, r.text
    back = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
    assert back["status"] == "succeeded" and back["revisionName"] == "api-00003", back
    assert weights(cluster, host) == [("api-00003", 100)]
    revisions = api.get(f"/workspaces/{ws}/deploy/apps/{app['id']}/revisions").json()
    assert (revisions[0]["revisionName"], revisions[0]["trafficPercent"]) == ("api-00003", 100)

    # Delete: the cluster forgets the app.
    assert api.delete(f"/workspaces/{ws}/apps/{app['id']}").status_code in (200, 202, 204)
    until(lambda: not cluster.objects("HTTPRoute") and not cluster.objects("Deployment"))
    assert unauthorized(cluster.requests()) == []  # the RBAC Slipway ships is enough


def test_autoscaled_app_gets_an_hpa_that_holds_its_minimum(
    on_cluster: Platform, cluster: FakeCluster, make_repo: Any
) -> None:
    api, ws, _, app = new_app(on_cluster, make_repo, "scaled", "web", minReplicas=2, maxReplicas=5)
    first = deploy(api, ws, app["id"])
    assert first["status"] == "succeeded", first
    (hpa,) = until(lambda: cluster.objects("HorizontalPodAutoscaler"))
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web-00001"
    # Below the minimum: it holds until the HPA reconciles, then the HPA's floor wins.
    r = api.post(f"/workspaces/{ws}/deploy/scale", json={"appId": app["id"], "replicas": 1})
    assert r.status_code == 200, r.text
    until(lambda: cluster.objects("Deployment")[0]["spec"]["replicas"] == 2, timeout=20)
    snapshot("kubernetes-autoscaled", cluster)


def test_a_crash_loop_fails_the_deploy_with_the_clusters_reason(
    on_cluster: Platform, cluster: FakeCluster, make_repo: Any
) -> None:
    api, ws, _, app = new_app(
        on_cluster, make_repo, "crashy", "bad", env={"FAKEKUBE_BEHAVIOUR": "crashloop"}
    )
    failed = deploy(api, ws, app["id"])
    assert failed["status"] == "failed", failed
    assert "CrashLoopBackOff" in failed["error"] or "status 1" in failed["error"], failed
    status = api.get(f"/workspaces/{ws}/deploy/{failed['id']}/runtime-status").json()
    assert status["phase"] == "Failed", status


@pytest.mark.parametrize("cluster", ["knative"], indirect=True)
def test_the_same_flows_on_knative_serving(
    on_cluster: Platform, cluster: FakeCluster, make_repo: Any
) -> None:
    """Where Knative Serving is installed: one Knative Service per app, Slipway's revisions
    are its Revisions by name, the split and the tags its traffic block."""
    api, ws, repo, app = new_app(on_cluster, make_repo, "kn", "site")
    first = deploy(api, ws, app["id"])
    assert first["status"] == "succeeded", first

    def service() -> dict[str, Any]:
        (svc,) = cluster.objects("knative.Service")
        return svc

    def traffic() -> list[tuple[str, int, str | None]]:
        entries = service()["spec"].get("traffic") or []
        return [(e["revisionName"], e["percent"], e.get("tag")) for e in entries]

    assert service()["spec"]["template"]["metadata"]["name"] == "site-00001"
    until(lambda: traffic() == [("site-00001", 100, None)])
    status = api.get(f"/workspaces/{ws}/deploy/{first['id']}/runtime-status").json()
    assert (status["phase"], status["ready"]) == ("Running", 1), status
    assert not cluster.objects("Deployment") and not cluster.objects("HTTPRoute")

    repo.commit(version(2), "v2")
    second = deploy(api, ws, app["id"])
    assert second["status"] == "succeeded", second
    assert service()["spec"]["template"]["metadata"]["name"] == "site-00002"
    until(lambda: traffic() == [("site-00002", 100, None)])
    splits = [
        {"revisionName": "site-00001", "percent": 20, "tag": "old"},
        {"revisionName": "site-00002", "percent": 80},
    ]
    r = api.post(f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic", json={"splits": splits})
    assert r.status_code == 200, r.text
    assert sorted(traffic(), key=str) == sorted(
        [("site-00001", 20, None), ("site-00002", 80, None), ("site-00001", 0, "old")], key=str
    )
    revisions = {r["metadata"]["name"] for r in cluster.objects("Revision")}
    assert revisions == {"site-00001", "site-00002"}
    snapshot("knative-split", cluster)

    r = api.post(f"/workspaces/{ws}/deploy/revisions/site-00001/promote")
    assert r.status_code == 200, r.text
    assert traffic()[0] == ("site-00001", 100, None)
    r = api.post(f"/workspaces/{ws}/deploy/{second['id']}/rollback")
    back = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
    assert back["status"] == "succeeded" and back["revisionName"] == "site-00003", back
    until(lambda: traffic() == [("site-00003", 100, None)])

    assert api.delete(f"/workspaces/{ws}/apps/{app['id']}").status_code in (200, 202, 204)
    until(lambda: not cluster.objects("knative.Service") and not cluster.objects("Revision"))
    assert unauthorized(cluster.requests()) == []


# --------------------------------------------------------------------------- snapshots


def snapshot(name: str, cluster: FakeCluster) -> None:
    """What Slipway applied (the last body of every object the cluster still holds; pods
    are the cluster's own), valid against the schemas, and equal to the snapshot once ids,
    uids and digests are replaced by placeholders."""
    last: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for verb, _, body in cluster.applied():
        if verb == "apply":
            meta = body["metadata"]
            last[(body["apiVersion"], body["kind"], meta.get("namespace", ""), meta["name"])] = body
    objects = []
    for kind in KINDS:
        for obj in cluster.objects(kind):
            meta = obj["metadata"]
            body = last.get(
                (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
            )
            if body is None:
                continue  # the cluster's own ("default")
            assert_valid(body)
            if kind == "Secret":  # the keys, not the values
                body = {**body, "data": {k: "<value>" for k in body.get("data", {})}}
            objects.append(_normal(body))
    objects.sort(key=lambda o: json.dumps(o, sort_keys=True))  # names with random parts
    text = json.dumps(objects, indent=1, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("SLIPWAY_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs: rerun with SLIPWAY_UPDATE_SNAPSHOTS=1"


_ID = re.compile(r"(ws|app)[_-][0-9a-z]{26}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_RELEASE = re.compile(r"-release-[0-9a-f]{6}")
_BUILD = re.compile(r"-build-[0-9a-f]{12}-[0-9a-f]{6}")
_SHA = re.compile(r"\b[0-9a-f]{40}\b")
_COMMIT_TAG = re.compile(r"commit-[0-9a-f]{12}")
_SHORT_SHA = re.compile(r'"[0-9a-f]{12}"')
_REPO = re.compile(r'"[^"]*/repos/([a-z0-9-]+)"')  # the test's git repository, by path


def _normal(obj: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(obj, sort_keys=True)
    text = _ID.sub(lambda m: f"<{m.group(1)}>", text)
    text = _DIGEST.sub("<digest>", text)
    text = _UID.sub("<uid>", text)
    text = _PORT.sub("<registry>", text)
    text = _RELEASE.sub("-release-<random>", text)
    text = _BUILD.sub("-build-<commit>-<random>", text)
    text = _SHA.sub("<sha>", text)
    text = _COMMIT_TAG.sub("commit-<commit>", text)
    text = _SHORT_SHA.sub('"<commit>"', text)
    text = _REPO.sub(r'"<tmp>/repos/\1"', text)
    return json.loads(text)  # type: ignore[no-any-return]
