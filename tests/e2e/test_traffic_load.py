"""Zero dropped requests: under a steady load through the router, cycles of deploy → 10/90
split → promote → rollback → scale 3 → scale 1 must not fail a single request (CONTRACT §6).

The load is a bounded loop in two threads (about 60 requests/s in all, loopback only) that
stops by itself once the cycles are done or after a hard limit. The benchmark
`bench/rollout_cycle.py` runs the issue's 20 cycles and reports the figures; this test runs
fewer to stay quick, with the same steps.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

FINISHED = {"succeeded", "failed", "cancelled"}
CYCLES = 3
RATE_PER_THREAD = 30.0
HARD_LIMIT_SECONDS = 600.0


class Load:
    """Bounded request loops; every answer but a 200 (or an exception) is a failure."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host
        self.stop = threading.Event()
        self.results: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self) -> None:
        started = time.monotonic()
        interval = 1.0 / RATE_PER_THREAD
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as client:
            next_at = time.monotonic()
            while not self.stop.is_set() and time.monotonic() - started < HARD_LIMIT_SECONDS:
                try:
                    r = client.get("/", headers={"Host": self.host})
                    outcome = r.text.split()[0] if r.status_code == 200 else f"HTTP {r.status_code}"
                    failed = r.status_code != 200
                except httpx.HTTPError as exc:
                    outcome, failed = type(exc).__name__, True
                with self.lock:
                    self.results[outcome] += 1
                    if failed:
                        self.failures.append(outcome)
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))


# Autoscaled: the autoscaler also moves the replicas while the cycles run (short windows:
# it undoes each manual scale to 3 within seconds, draining under load); still no request
# may fail.
AUTOSCALED = {"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 1}
SHORT_WINDOWS = {"SLIPWAY_AUTOSCALE_STABLE_SECONDS": "3", "SLIPWAY_AUTOSCALE_PANIC_SECONDS": "1"}


@pytest.fixture(params=["manual", "autoscaled"])
def bounds(request: pytest.FixtureRequest) -> dict[str, int]:
    return AUTOSCALED if request.param == "autoscaled" else {}


@pytest.fixture
def platform(tmp_path: Path, database_url: str | None, bounds: dict[str, int]):
    running = start_platform(
        tmp_path, database_url=database_url, extra_env=SHORT_WINDOWS if bounds else None
    )
    try:
        yield running
    finally:
        stop_platform(running)


def test_rollout_cycles_under_load_drop_no_request(platform, make_repo, bounds):
    ws, key = platform.workspace("load")
    api = platform.client(key)
    repo = make_repo("app")
    sha = {1: repo.commit({"main.py": PYTHON_APP.replace('"hello"', '"v1"')}, "v1")}
    sha[2] = repo.commit({"main.py": PYTHON_APP.replace('"hello"', '"v2"')}, "v2")
    body = {"name": "app", "gitUrl": repo.url, **bounds}
    app = api.post(f"/workspaces/{ws}/apps", json=body).json()

    def deploy(n: int) -> dict:
        r = api.post(f"/workspaces/{ws}/deploy", json={"appId": app["id"], "gitCommitSha": sha[n]})
        done = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
        assert done["status"] == "succeeded", done
        return done

    previous = deploy(1)
    started = time.monotonic()
    with Load(platform.router_port, "app.load.localhost") as load:
        for cycle in range(CYCLES):
            new = deploy(2 if cycle % 2 == 0 else 1)
            splits = [
                {"revisionName": new["revisionName"], "percent": 10},
                {"revisionName": previous["revisionName"], "percent": 90},
            ]
            r = api.post(
                f"/workspaces/{ws}/deploy/apps/{app['id']}/traffic", json={"splits": splits}
            )
            assert r.status_code == 200, r.text
            r = api.post(f"/workspaces/{ws}/deploy/revisions/{new['revisionName']}/promote")
            assert r.status_code == 200, r.text
            r = api.post(f"/workspaces/{ws}/deploy/{previous['id']}/rollback")
            assert r.status_code == 202, r.text
            back = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
            assert back["status"] == "succeeded", back
            for replicas in (3, 1):
                r = api.post(
                    f"/workspaces/{ws}/deploy/scale",
                    json={"appId": app["id"], "replicas": replicas},
                )
                assert r.status_code == 200, r.text
                time.sleep(2.0)  # let the new replicas join and the surplus drain under load
            previous = back
    elapsed = time.monotonic() - started
    total = sum(load.results.values())
    print(f"{total} requests in {elapsed:.1f}s: {dict(load.results)}")
    assert load.failures == [], (load.failures[:20], load.results)
    if bounds:  # the autoscaler did move the replicas meanwhile
        assert "autoscaling load/app" in (platform.log_path or Path()).read_text()
    assert total / elapsed >= 25, (total, elapsed)  # a steady load ran (the bench checks 50/s)
