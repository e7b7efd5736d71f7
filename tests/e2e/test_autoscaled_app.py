"""Autoscaling through `slipway up` (issue 14, first part): an app with `maxReplicas` set
scales up under a step of concurrent load within the panic window, answers every request
meanwhile, comes back to `minReplicas` once the stable window has seen no load, and a manual
scale below `minReplicas` is restored by the autoscaler. Short windows (stable 8 s, panic
2 s) keep the test brief; the figures for the default windows are the benchmark's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.conftest import DELAYED_APP
from tests.e2e.conftest import FINISHED, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

WINDOWS = {"SLIPWAY_AUTOSCALE_STABLE_SECONDS": "8", "SLIPWAY_AUTOSCALE_PANIC_SECONDS": "2"}


def _eventually(check: Callable[[], bool], what: str, timeout: float) -> float:
    """Seconds until `check()` held."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, what
        time.sleep(0.25)
    return time.monotonic() - started


class Load:
    """`clients` threads, each sending one request after the other through the router."""

    def __init__(self, url: str, host: str, clients: int) -> None:
        self.url, self.host = url, host
        self.stop = threading.Event()
        self.codes: list[int] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(headers={"Host": self.host}, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    self.codes.append(client.get(self.url).status_code)
                except httpx.HTTPError:
                    self.codes.append(0)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_an_app_scales_with_its_load_between_its_bounds(tmp_path: Path, make_repo) -> None:
    running = start_platform(tmp_path, extra_env=WINDOWS)
    try:
        ws_id, key = running.workspace("acme")
        api = running.client(key)
        repo = make_repo("busy")
        repo.commit({"main.py": DELAYED_APP % "ok", "requirements.txt": ""}, "feat: slow app")
        body = {
            "name": "busy",
            "gitUrl": repo.url,
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetConcurrency": 2,
            "env": {"REQUEST_DELAY": "0.2"},
        }
        app = api.post(f"/workspaces/{ws_id}/apps", json=body).json()
        dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
        done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep['id']}", until=FINISHED)
        assert done["status"] == "succeeded", done
        app_path = f"/workspaces/{ws_id}/apps/{app['id']}"
        revisions = f"/workspaces/{ws_id}/deploy/apps/{app['id']}/revisions"

        def replicas() -> int:
            return int(api.get(app_path).json()["replicas"])

        def ready() -> int:
            return sum(r["ready"] for r in api.get(revisions).json())

        url = f"http://127.0.0.1:{running.router_port}/"
        status_path = f"/workspaces/{ws_id}/deploy/{dep['id']}/runtime-status"
        with Load(url, "busy.acme.localhost", clients=10) as load:  # 10 in flight: 4 wanted
            decided = _eventually(lambda: replicas() > 1, "no scale-up decision", 10)
            _eventually(lambda: ready() == 4, "not 4 ready replicas", 30)
            conditions = {c["type"]: c for c in api.get(status_path).json()["conditions"]}
            assert conditions["Autoscaled"]["reason"] in {"Panic", "Stable"}, conditions
            assert "4 replicas wanted" in conditions["Autoscaled"]["message"]
            metrics = running.metrics()
            assert 'slipway_autoscaler_desired_replicas{app="' in metrics
            assert "slipway_autoscaler_observed_concurrency" in metrics
            time.sleep(2)
        assert decided <= 4, decided
        assert load.codes and set(load.codes) == {200}, sorted(set(load.codes))

        _eventually(lambda: replicas() == 1, "not back to minReplicas", 8 + 15)
        _eventually(lambda: ready() == 1, "surplus replicas still run", 30)

        scaled = api.post(
            f"/workspaces/{ws_id}/deploy/scale", json={"appId": app["id"], "replicas": 0}
        )
        assert scaled.status_code == 200, scaled.text
        _eventually(lambda: replicas() == 1, "below minReplicas was not restored", 10)
        _eventually(lambda: running.get_app("busy.acme.localhost").status_code == 200,
                    "the app does not answer again", 30)  # fmt: skip
    finally:
        stop_platform(running)
