"""Activation when the router that holds the request is not the replica owner: an owner
(worker and router: it autoscales) and a router-only process on one PostgreSQL database. The
app scales to zero in the owner; a request to the router-only process is held there, its
activator writes the desired count and asks the owner, which starts the replica; the held
request is answered once the published replica reaches that router's routes. No replica ever
runs under the router-only process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cluster_processes import Cluster
from test_rollback_owner import _sandboxes_under

pytestmark = pytest.mark.long  # processes on PostgreSQL for a minute: scheduled first

WINDOWS = {  # short, but longer than a loaded machine may delay a load message
    "SLIPWAY_AUTOSCALE_STABLE_SECONDS": "3",
    "SLIPWAY_AUTOSCALE_PANIC_SECONDS": "1",
    "SLIPWAY_SCALE_TO_ZERO_SECONDS": "4",
}


@pytest.fixture
def short_windows(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, pg_url, **WINDOWS)
    try:
        yield made
    finally:
        made.stop()


def _until(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_router_without_replicas_activates_through_the_owner(
    short_windows: Cluster, make_repo
) -> None:
    cluster = short_windows
    owner = cluster.start("owner", "worker,router")
    cluster.start("api", "api")
    edge = cluster.start("edge", "router")
    client = cluster.client("api")
    repo = make_repo("app")
    body = {"name": "api", "gitUrl": repo.url, "minReplicas": 0, "maxReplicas": 2}
    app = client.post("/apps", json=body).json()
    cluster.deploy_versions(client, repo, app["id"], ("v1",))

    def at_zero() -> bool:
        revisions = client.get(f"/deploy/apps/{app['id']}/revisions").json()
        wanted = client.get(f"/apps/{app['id']}").json()["replicas"]
        return wanted == 0 and sum(r["total"] for r in revisions) == 0

    _until(at_zero, "the app did not go to zero")
    assert _sandboxes_under(owner.pid) == []

    router = cluster.ports["edge"][1]
    started = time.monotonic()
    answer = httpx.get(
        f"http://127.0.0.1:{router}/", headers={"Host": f"api.acme.localhost:{router}"}, timeout=60
    )
    assert answer.status_code == 200 and answer.text.startswith("v1"), answer.text
    assert time.monotonic() - started < 20  # held, not refused; the 1 s route resync at worst
    assert client.get(f"/apps/{app['id']}").json()["replicas"] == 1
    assert _sandboxes_under(owner.pid), "the owner runs the replica"
    assert _sandboxes_under(edge.pid) == [], "the router-only process runs replicas"

    # Served through the edge for three grace periods: the owner's autoscaler counts the
    # edge's load (loadshare), so the app stays up instead of going to zero and back.
    with httpx.Client(timeout=30) as c:
        until = time.monotonic() + 12
        while time.monotonic() < until:
            got = c.get(
                f"http://127.0.0.1:{router}/", headers={"Host": f"api.acme.localhost:{router}"}
            )
            assert got.status_code == 200, got.text
            time.sleep(0.1)
    activations = (cluster.tmp_path / "edge.log").read_text().count("activating acme/api")
    assert activations == 1, (cluster.tmp_path / "edge.log").read_text()[-2000:]
