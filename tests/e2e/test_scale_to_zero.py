"""Scale to zero and activation through `slipway up` (issue 14): an app with `minReplicas` 0
stops its last replica after the grace period without requests; the next request is held
by the router (in its own process) while the revision starts, then served; 50 concurrent
requests to a cold app are all answered; a tagged URL starts its own revision; and a revision
that cannot start answers the held requests 503 with the reason, which Runtime Status also
shows. Short windows (stable 3 s, grace 3 s) keep it brief."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.conftest import DELAYED_APP
from tests.e2e.conftest import Platform, deploy, start_platform, stop_platform
from tests.e2e.test_autoscaled_app import _eventually

pytestmark = pytest.mark.e2e

WINDOWS = {
    "SLIPWAY_AUTOSCALE_STABLE_SECONDS": "3",
    "SLIPWAY_AUTOSCALE_PANIC_SECONDS": "1",
    "SLIPWAY_SCALE_TO_ZERO_SECONDS": "3",
}

# Serves like DELAYED_APP until FAIL_AFTER (a Unix time), then exits at start: its first
# start (the deployment's) succeeds, a cold start after that time fails.
FAILING_LATER = (
    "import os, sys, time\n"
    "if time.time() > float(os.environ['FAIL_AFTER']):\n"
    "    print('cannot reach the database', flush=True)\n"
    "    sys.exit(3)\n" + DELAYED_APP
)


@pytest.fixture
def running(tmp_path: Path, database_url: str | None) -> Iterator[Platform]:
    platform = start_platform(tmp_path, database_url=database_url, extra_env=WINDOWS)
    yield platform
    stop_platform(platform)


class App:
    def __init__(self, running: Platform, api: httpx.Client, ws_id: str, body: dict) -> None:
        self.running, self.api, self.ws_id = running, api, ws_id
        self.data = api.post(f"/workspaces/{ws_id}/apps", json=body).json()
        self.host = f"{body['name']}.acme.localhost"

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def replicas(self) -> int:
        return int(self.api.get(f"/workspaces/{self.ws_id}/apps/{self.id}").json()["replicas"])

    def running_replicas(self) -> int:
        revisions = f"/workspaces/{self.ws_id}/deploy/apps/{self.id}/revisions"
        return sum(r["ready"] + r["total"] for r in self.api.get(revisions).json())

    def at_zero(self) -> bool:
        return self.replicas() == 0 and self.running_replicas() == 0

    def conditions(self, dep_id: str) -> dict[str, dict]:
        path = f"/workspaces/{self.ws_id}/deploy/{dep_id}/runtime-status"
        status = self.api.get(path).json()
        return {c["type"]: c for c in status["conditions"]} | {"phase": status["phase"]}


def _get(running: Platform, host: str) -> tuple[int, str, float]:
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        r = client.get(f"http://127.0.0.1:{running.router_port}/", headers={"Host": host})
    return r.status_code, r.text, time.monotonic() - started


def test_an_idle_app_goes_to_zero_and_a_request_brings_it_back(running: Platform, make_repo):
    ws_id, key = running.workspace("acme")
    api = running.client(key)
    repo = make_repo("cold")
    repo.commit({"main.py": DELAYED_APP % "v1", "requirements.txt": ""}, "v1")
    app = App(
        running, api, ws_id, {"name": "cold", "gitUrl": repo.url, "minReplicas": 0,
                              "maxReplicas": 3, "env": {"REQUEST_DELAY": "0.2"}},
    )  # fmt: skip
    first = deploy(api, ws_id, app.id)
    assert first["status"] == "succeeded", first
    assert _get(running, app.host)[:2] == (200, "v1")

    _eventually(app.at_zero, "not at zero after the grace period", 30)
    conditions = app.conditions(first["id"])
    assert conditions["phase"] == "Stopped", conditions
    assert conditions["Available"]["reason"] == "ScaledToZero", conditions
    assert conditions["Activation"]["reason"] == "OnDemand", conditions

    # The first request to the cold app waits for its replica and is served.
    code, text, seconds = _get(running, app.host)
    assert (code, text) == (200, "v1"), text
    assert seconds < 10, seconds  # the benchmark measures it; here: held, not refused
    assert app.replicas() >= 1
    assert app.conditions(first["id"])["Activation"]["reason"] == "Activated"

    # 50 requests at once to a cold app: every one answered, none dropped.
    _eventually(app.at_zero, "not at zero again", 30)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: _get(running, app.host), range(50)))
    assert [(code, text) for code, text, _ in answers] == [(200, "v1")] * 50

    # A tagged URL starts the tagged revision, the app's host the one with traffic.
    repo.commit({"main.py": DELAYED_APP % "v2", "requirements.txt": ""}, "v2")
    second = deploy(api, ws_id, app.id, noTraffic=True)
    assert second["status"] == "succeeded", second
    _eventually(app.at_zero, "not at zero after the second deploy", 30)
    assert _get(running, "candidate---" + app.host)[:2] == (200, "v2")
    assert _get(running, app.host)[:2] == (200, "v1")

    metrics = running.metrics()
    assert 'slipway_router_edge_events_total{event="activation_released"}' in metrics
    log = running.log_path.read_text() if running.log_path else ""
    assert "no request for" in log and "scaled to zero" in log, log[-3000:]


def test_a_cold_start_that_fails_answers_the_held_requests(running: Platform, make_repo):
    ws_id, key = running.workspace("acme")
    api = running.client(key)
    repo = make_repo("flaky")
    repo.commit({"main.py": FAILING_LATER % "up", "requirements.txt": ""}, "fails later")
    fail_after = time.time() + 45  # the deployment's start comes well before
    app = App(
        running, api, ws_id, {"name": "flaky", "gitUrl": repo.url, "minReplicas": 0,
                              "maxReplicas": 2, "env": {"FAIL_AFTER": str(fail_after)}},
    )  # fmt: skip
    dep = deploy(api, ws_id, app.id)
    assert dep["status"] == "succeeded", dep
    assert time.time() < fail_after, "the deployment took too long for this test's clock"
    _eventually(app.at_zero, "not at zero after the grace period", 30)
    time.sleep(max(0.0, fail_after - time.time()) + 0.5)

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: _get(running, app.host), range(5)))
    for code, text, seconds in answers:
        assert code == 503, text
        assert text.startswith("The app could not start: the app exited with status 3"), text
        assert "database" not in text  # the app's own output stays out of the answer
        assert seconds < 15, seconds
    again = _get(running, app.host)  # within the refusal: answered at once, not started again
    assert again[0] == 503 and again[2] < 2, again

    activation = app.conditions(dep["id"])["Activation"]
    assert activation["status"] == "False" and activation["reason"] == "ActivationFailed"
    assert "exited with status 3" in activation["message"]
    assert "cannot reach the database" in activation["message"]  # for the app's owner
