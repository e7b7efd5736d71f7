"""An API-only process changes replicas and traffic without running any: two processes on
one PostgreSQL database, the replica owner (every role) and an API-only one. Set Traffic,
Scale, Promote and delete posted to the API-only process write desired state and ask the
owner (NOTIFY), which starts, drains and stops the replicas; the API process answers once
the owner has done what the answer promises (the split's revisions healthy, the deleted
app's replicas gone) and never has a sandboxed replica among its descendants."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cluster_processes import Cluster
from test_rollback_owner import _sandboxes_under

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_api_process_asks_the_replica_owner_to_act(cluster: Cluster, make_repo) -> None:
    owner = cluster.start("owner", "all")
    api_only = cluster.start("api", "api")
    client = cluster.client("api")

    def page() -> str:
        got = cluster.get("owner", "api")
        return got.text.split()[0] if got.status_code == 200 else str(got.status_code)

    def no_replica_in_the_api_process() -> None:
        assert _sandboxes_under(api_only.pid) == [], "the API process runs replicas"

    repo = make_repo("app")
    app = client.post("/apps", json={"name": "api", "gitUrl": repo.url}).json()
    deployed = cluster.deploy_versions(client, repo, app["id"], ("v1", "v2"))
    v1, v2 = (d["revisionName"] for d in deployed)
    no_replica_in_the_api_process()

    split = {"splits": [{"revisionName": v1, "percent": 50}, {"revisionName": v2, "percent": 50}]}
    answer = client.post(f"/deploy/apps/{app['id']}/traffic", json=split)
    assert answer.status_code == 200, answer.text
    ready = {r["revisionName"]: r["ready"] for r in client.get(
        f"/deploy/apps/{app['id']}/revisions").json()}  # fmt: skip
    assert ready[v1] >= 1 and ready[v2] >= 1, ready  # warmed by the owner first
    seen: set[str] = set()
    _eventually(lambda: seen.add(page()) or seen >= {"v1", "v2"}, f"both served: {seen}")
    no_replica_in_the_api_process()

    scaled = client.post("/deploy/scale", json={"appId": app["id"], "replicas": 3})
    assert scaled.status_code == 200, scaled.text
    _eventually(
        lambda: (
            client.post("/deploy/scale", json={"appId": app["id"], "replicas": 3}).json()["status"]
            == "running"
        ),
        "three replicas running",
    )
    totals = [r["total"] for r in client.get(f"/deploy/apps/{app['id']}/revisions").json()]
    assert sum(totals) == 3, totals  # as the owner publishes them
    assert _sandboxes_under(owner.pid)
    no_replica_in_the_api_process()

    promoted = client.post(f"/deploy/revisions/{v2}/promote")
    assert promoted.status_code == 200, promoted.text
    _eventually(lambda: {page() for _ in range(6)} == {"v2"}, "only v2 served")
    no_replica_in_the_api_process()

    assert client.delete(f"/apps/{app['id']}").status_code in (200, 204)
    assert _sandboxes_under(owner.pid) == [], "the deleted app's replicas still run"
    _eventually(lambda: page() == "404", "the deleted app's host no longer routes")
    no_replica_in_the_api_process()
