"""A rollout survives its replica owner: two processes (every role) on one PostgreSQL
database; the first holds the replicas lease. While the first runs a deployment's rollout
(its replicas started, their health check still pending) it is SIGKILLed. The second
takes the replicas lease, finds the rollout's lease dead, and resumes it from the stored
revision and desired state: the release command does not run again, the new revision's
replicas start under the second process, and its router serves the new code."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from cluster_processes import Cluster
from test_rollback_owner import _sandboxes_under
from tests.conftest import DELAYED_APP
from tests.e2e.conftest import FINISHED, wait_for

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first


def _wait_log(api: httpx.Client, dep_id: str, marker: str, timeout: float = 180) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = api.get(f"/deploy/{dep_id}/logs").json()["logs"]
        if any(marker in line for line in lines):
            return lines
        assert time.monotonic() < deadline, f"no {marker!r} in the log: {lines}"
        time.sleep(0.1)


def test_the_next_replica_owner_finishes_a_rollout_whose_owner_was_killed(
    cluster: Cluster, make_repo
) -> None:
    cluster.env["SLIPWAY_LEASE_SECONDS"] = "3"
    first_proc = cluster.start("first", "all")  # the first leads
    second_proc = cluster.start("second", "all")
    first, second = cluster.client("first"), cluster.client("second")
    repo = make_repo("app")
    repo.commit({"main.py": DELAYED_APP % "v1", "requirements.txt": ""}, "v1")
    app = first.post("/apps", json={"name": "api", "gitUrl": repo.url}).json()
    v1 = first.post("/deploy", json={"appId": app["id"]}).json()
    v1 = wait_for(first, f"/deploy/{v1['id']}", until=FINISHED, timeout=180)
    assert v1["status"] == "succeeded", v1

    settings = {"env": {"START_DELAY": "6"}, "releaseCommand": "echo released"}
    assert first.patch(f"/apps/{app['id']}", json=settings).status_code == 200
    repo.commit({"main.py": DELAYED_APP % "v2"}, "v2")
    v2 = first.post("/deploy", json={"appId": app["id"]}).json()
    _wait_log(first, v2["id"], "[deploy] Starting")
    assert _sandboxes_under(first_proc.pid), "the replica owner runs no replica"
    first_proc.send_signal(signal.SIGKILL)
    first_proc.wait(timeout=30)

    done = wait_for(second, f"/deploy/{v2['id']}", until=FINISHED, timeout=120)
    assert done["status"] == "succeeded", done
    lines = second.get(f"/deploy/{v2['id']}/logs").json()["logs"]
    assert any("the process that runs replicas resumes it" in x for x in lines), lines
    assert any("the release phase already ran" in x for x in lines), lines
    assert sum("[release] Running" in x for x in lines) == 1, lines
    assert _sandboxes_under(second_proc.pid), "the new replica owner runs no replica"
    page = cluster.get("second", "api")
    assert (page.status_code, page.text) == (200, "v2"), page.text
