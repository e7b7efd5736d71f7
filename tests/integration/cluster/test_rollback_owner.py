"""One replica owner, even for rollbacks posted elsewhere: two processes on one PostgreSQL
database, both with the API and worker roles; the first (every role) holds the replicas
lease. A rollback posted to the second process's API runs on the first: after it succeeded,
only the owner has sandboxed replicas among its descendants, and the app serves the
rolled-back code through the owner's router."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cluster_processes import Cluster
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import FINISHED, wait_for

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first


def _sandboxes_under(pid: int) -> list[str]:
    """Command lines of the bubblewrap processes descended from `pid`."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = []
    for child in parents:
        ancestor = parents.get(child)
        while ancestor not in (None, 0, 1, pid):
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            try:
                argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if Path(argv[0].decode()).name == "bwrap":
                found.append(" ".join(a.decode() for a in argv[:3]))
    return found


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
    deps = []
    for version in ("v1", "v2"):
        code = PYTHON_APP.replace('"hello"', f'"{version}"')
        repo.commit({"main.py": code, "requirements.txt": ""}, version)
        dep = owner.post("/deploy", json={"appId": app["id"]}).json()
        deps.append(_wait(owner, dep["id"]))
        assert deps[-1]["status"] == "succeeded", deps[-1]

    back = other.post(f"/deploy/{deps[0]['id']}/rollback")
    assert back.status_code == 202, back.text
    rolled = _wait(other, back.json()["id"])
    assert rolled["status"] == "succeeded", rolled

    assert _sandboxes_under(other_proc.pid) == [], "the process without the lease runs replicas"
    assert _sandboxes_under(owner_proc.pid), "the replica owner runs no replica"
    page = cluster.get("owner", "api")
    assert page.status_code == 200 and page.text.startswith("v1 "), page.text
