"""One replica owner, even for rollbacks posted elsewhere: two processes on one PostgreSQL
database, both with the API and worker roles; the first (every role) holds the replicas
lease. A rollback posted to the second process's API runs on the first: after it succeeded,
only the owner has sandboxed replicas among its descendants, and the app serves the
rolled-back code through the owner's router."""

from __future__ import annotations

import httpx
import pytest
from cluster_processes import Cluster
from tests.e2e.conftest import FINISHED, wait_for
from tests.support import procs

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first


def _sandboxes_under(pid: int) -> list[str]:
    """Command lines of the bubblewrap processes descended from `pid`."""
    return [
        " ".join(a.decode() for a in p.argv[:3])
        for p in procs.descendants(pid)
        if p.program == "bwrap"
    ]


def _wait(api: httpx.Client, dep_id: str) -> dict:
    return wait_for(api, f"/deploy/{dep_id}", until=FINISHED, timeout=180)


def test_a_rollback_posted_to_another_process_runs_on_the_replica_owner(
    cluster: Cluster, make_repo
) -> None:
    owner_proc = cluster.start("owner", "all")  # the first leads
    other_proc = cluster.start("other", "api,worker")
    owner, other = cluster.client("owner"), cluster.client("other")
    repo = make_repo("app")
    app = owner.post("/apps", json={"name": "api", "gitUrl": repo.url}).json()
    deps = cluster.deploy_versions(owner, repo, app["id"], ("v1", "v2"))

    back = other.post(f"/deploy/{deps[0]['id']}/rollback")
    assert back.status_code == 202, back.text
    rolled = _wait(other, back.json()["id"])
    assert rolled["status"] == "succeeded", rolled

    assert _sandboxes_under(other_proc.pid) == [], "the process without the lease runs replicas"
    assert _sandboxes_under(owner_proc.pid), "the replica owner runs no replica"
    page = cluster.get("owner", "api")
    assert page.status_code == 200 and page.text.startswith("v1 "), page.text
