"""Autoscaling under a load step, through a real `slipway up` (loopback only, bounded loops).

An app (stdlib Python, 100 ms per request) with minReplicas 1, maxReplicas 10 and
targetConcurrency 10 serves 1 closed-loop client; then the load steps to 40 clients (about
40 requests in flight: 4 replicas wanted) for `--hold` seconds, then stops. Each run
measures, from the step:

- decision: until the API shows more than one replica wanted (target: <= 2 s);
- ready: until 4 replicas are ready (target: within the 6 s panic window);
and from the end of the load:
- back to minReplicas: until `--min-replicas` replicas are wanted again (the stable window,
  60 s; with `--min-replicas 0`, zero once no request came for the grace period, 60 s).

Reference, same run: a manual scale from 1 to 2 replicas until the second is ready (the cost
of starting a replica, which any scale-up pays). Failed requests are counted.

Run from the repository root:
`python bench/autoscale_step.py [--runs 10] [--hold 12] [--min-replicas 1]`.
Prints JSON; docs/benchmarks.md ("Autoscaling") has the figures and the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from rollout_cycle import Slipway, make_repo

HOST = "busy.bench.localhost"
POLL = 0.1


class Clients:
    """Closed-loop clients (one request after the other each), bounded by `stop`."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.stop = port, threading.Event()
        self.ok = self.failed = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 600
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as c:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    good = c.get("/", headers={"Host": HOST}).status_code == 200
                except httpx.HTTPError:
                    good = False
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failed += 1

    def close(self) -> tuple[int, int]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        return self.ok, self.failed


def until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(POLL)
    return time.monotonic() - started


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_s": round(statistics.median(values), 2),
        "min_s": round(min(values), 2),
        "max_s": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hold", type=float, default=12.0)
    parser.add_argument("--min-replicas", type=int, default=1, choices=(0, 1))
    args = parser.parse_args()
    low = args.min_replicas
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root, ("ok",))["url"]
        platform = Slipway(root)
        try:
            body = {"name": "busy", "gitUrl": repo, "minReplicas": low, "maxReplicas": 10,
                    "targetConcurrency": 10, "env": {"REQUEST_DELAY": "0.1"}}  # fmt: skip
            app = platform.api.post("/apps", json=body).json()
            platform.wait(platform.api.post("/deploy", json={"appId": app["id"]}).json()["id"])

            def wanted() -> int:
                return int(platform.api.get(f"/apps/{app['id']}").json()["replicas"])

            def ready() -> int:
                revs = platform.api.get(f"/deploy/apps/{app['id']}/revisions").json()
                return sum(r["ready"] for r in revs)

            results: dict[str, list[float]] = {"decision": [], "ready": [], "back": [], "ref": []}
            ok = failed = 0
            for _ in range(args.runs):
                base = Clients(platform.router_port, 1)  # at zero, its first request starts one
                until(lambda: wanted() == 1 and ready() == 1, 180)
                time.sleep(3)
                step = Clients(platform.router_port, 39)
                results["decision"].append(until(lambda: wanted() > 1, 30))
                results["ready"].append(until(lambda: ready() >= 4, 60) + results["decision"][-1])
                time.sleep(max(0.0, args.hold - results["ready"][-1]))
                for clients in (step, base):
                    good, bad = clients.close()
                    ok, failed = ok + good, failed + bad
                results["back"].append(until(lambda: wanted() == low, 180))
                until(lambda: ready() == low, 60)
            # Reference: starting one more replica by hand (the autoscaler off for it).
            platform.api.patch(f"/apps/{app['id']}", json={"maxReplicas": None, "minReplicas": 0})
            for _ in range(args.runs):
                platform.api.post("/deploy/scale", json={"appId": app["id"], "replicas": 1})
                until(lambda: ready() == 1, 60)
                started = time.monotonic()
                platform.api.post("/deploy/scale", json={"appId": app["id"], "replicas": 2})
                until(lambda: ready() == 2, 60)
                results["ref"].append(time.monotonic() - started)
            print(json.dumps({
                "decision_after_step": stats(results["decision"]),
                "four_ready_after_step": stats(results["ready"]),
                "back_to_min_after_load": stats(results["back"]),
                "reference_one_replica_started_by_hand": stats(results["ref"]),
                "requests": {"ok": ok, "failed": failed},
            }, indent=2))  # fmt: skip
        finally:
            platform.close()


if __name__ == "__main__":
    main()
