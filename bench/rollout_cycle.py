"""Rollout benchmarks through a real `slipway up` (loopback only, bounded loops):

1. traffic-live: after Set Traffic answers, how long until the router sends requests by the
   new split (the issue's target: p99 under 50 ms). Reference, same run: one request's
   round trip through the router.
2. rollback: API call → every request answered by the old version (target: under 1.5 s for
   a Python app, no build). Reference, same run: a redeploy of an already-built commit
   (queued, worker, image reused).
3. cycles: 20 x (deploy → 10/90 → promote → rollback → scale 3 → scale 1) under a steady
   load of about 60 requests/s: failed requests must be 0.

Run from the repository root: `python bench/rollout_cycle.py [--cycles 20] [--changes 100]`.
Prints JSON; docs/benchmarks.md ("Rollouts") has the figures and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

APP = """\
import http.server, os, time
DELAY = float(os.environ.get("REQUEST_DELAY", "0"))  # bench/autoscale_step.py: 0.1 s
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if DELAY:
            time.sleep(DELAY)
        body = b"VERSION"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""
DONE = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(repo: Path, *args: str) -> str:
    who = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x"}
    env = {**os.environ, **who, "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


def make_repo(root: Path, versions: tuple[str, ...] = ("v1", "v2")) -> dict[str, str]:
    """A repository under `root` with one commit of APP per version (answering it): each
    version's SHA, and "url"."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    for v in versions:
        (repo / "main.py").write_text(APP.replace("VERSION", v))
        (repo / "requirements.txt").write_text("")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", v)
        shas[v] = git(repo, "rev-parse", "HEAD")
    shas["url"] = str(repo)
    return shas


class Slipway:
    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.api_port, self.router_port, self.data = free_port(), free_port(), root / "data"
        self.log = (root / "slipway.log").open("wb")
        env = {**os.environ, "SLIPWAY_LOCAL_GIT_ROOTS": str(root), **(env or {})}  # the repo
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "slipway", "up", "--data-dir", str(self.data), "--api-port",
             str(self.api_port), "--router-port", str(self.router_port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("slipway up did not start")
            time.sleep(0.1)
        out = subprocess.run(
            [sys.executable, "-m", "slipway", "workspace", "create", "bench", "--json",
             "--data-dir", str(self.data)], check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        created = json.loads(out)
        self.ws = created["id"]
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}/api/v1/workspaces/{self.ws}",
            headers={"Authorization": f"Bearer {created['apiKey']}"}, timeout=120,
        )  # fmt: skip
        self.router = httpx.Client(base_url=f"http://127.0.0.1:{self.router_port}", timeout=30)

    def wait(self, dep_id: str) -> dict:
        deadline = time.monotonic() + 300
        while (body := self.api.get(f"/deploy/{dep_id}").json())["status"] not in DONE:
            if time.monotonic() > deadline:
                raise RuntimeError(f"deployment stuck: {body}")
            time.sleep(0.05)
        if body["status"] != "succeeded":
            raise RuntimeError(f"deployment failed: {body}")
        return body

    def deploy(self, app_id: str, sha: str) -> dict:
        return self.wait(
            self.api.post("/deploy", json={"appId": app_id, "gitCommitSha": sha}).json()["id"]
        )

    def get(self, host: str) -> str:
        return self.router.get("/", headers={"Host": host}).text

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000, 2),
            "p99_ms": round(p99 * 1000, 2), "min_ms": round(ordered[0] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}  # fmt: skip


def traffic_live(s: Slipway, app: dict, revs: tuple[str, str], changes: int) -> dict:
    host = f"{app['name']}.bench.localhost"
    versions = {revs[0]: "v1", revs[1]: "v2"}
    rtt = []
    for _ in range(200):
        t0 = time.perf_counter()
        s.get(host)
        rtt.append(time.perf_counter() - t0)
    live = []
    for i in range(changes):
        on, off = (revs[0], revs[1]) if i % 2 else (revs[1], revs[0])
        splits = [{"revisionName": on, "percent": 100, "tag": "a"},
                  {"revisionName": off, "percent": 0, "tag": "b"}]  # fmt: skip
        r = s.api.post(f"/deploy/apps/{app['id']}/traffic", json={"splits": splits})
        answered = time.perf_counter()
        assert r.status_code == 200, r.text
        while True:
            sent = time.perf_counter()
            if s.get(host) == versions[on]:
                live.append(max(0.0, sent - answered))
                break
    return {"request_rtt": summary(rtt), "live_after_answer": summary(live)}


def all_old(s: Slipway, host: str, version: str, *, streak: int = 20) -> float:
    """Send back-to-back requests; the time the first of `streak` consecutive `version`
    answers was sent."""
    run_start, run = None, 0
    while run < streak:
        sent = time.perf_counter()
        if s.get(host) == version:
            run_start = run_start if run else sent
            run += 1
        else:
            run = 0
    assert run_start is not None
    return run_start


def rollbacks(s: Slipway, app: dict, deps: dict[str, dict], shas: dict[str, str], n: int) -> dict:
    host = f"{app['name']}.bench.localhost"
    times, redeploys = [], []
    s.deploy(app["id"], shas["v2"])  # v2 serves; each round rolls back to v1, then redeploys v2
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.api.post(f"/deploy/{deps['v1']['id']}/rollback")
        assert r.status_code == 202, r.text
        times.append(all_old(s, host, "v1") - t0)
        s.wait(r.json()["id"])
        t0 = time.perf_counter()
        s.deploy(app["id"], shas["v2"])
        redeploys.append(all_old(s, host, "v2") - t0)
    ratio = statistics.median(times) / statistics.median(redeploys)
    return {"rollback": summary(times), "reference_redeploy_of_built_commit": summary(redeploys),
            "ratio_median": round(ratio, 3)}  # fmt: skip


class Load:
    """Two bounded request loops at `rate` requests/s each; stop() ends them."""

    def __init__(self, port: int, host: str, rate: float = 30.0, limit: float = 1800.0) -> None:
        self.port, self.host, self.rate, self.limit = port, host, rate, limit
        self.stop_event = threading.Event()
        self.results: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as c:
            while not self.stop_event.is_set() and time.monotonic() - self.started < self.limit:
                try:
                    r = c.get("/", headers={"Host": self.host})
                    outcome = r.text if r.status_code == 200 else f"fail HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    outcome = f"fail {type(exc).__name__}"
                with self.lock:
                    self.results[outcome] += 1
                next_at += 1.0 / self.rate
                time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> dict:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - self.started
        total = sum(self.results.values())
        failed = sum(n for k, n in self.results.items() if k.startswith("fail"))
        rate = round(total / elapsed, 1)
        return {"requests": total, "failed": failed, "seconds": round(elapsed, 1),
                "requests_per_second": rate, "answers": dict(self.results)}  # fmt: skip


def cycles(s: Slipway, app: dict, shas: dict[str, str], previous: dict, n: int) -> dict:
    load = Load(s.router_port, f"{app['name']}.bench.localhost")
    try:
        for i in range(n):
            new = s.deploy(app["id"], shas["v2" if i % 2 == 0 else "v1"])
            splits = [{"revisionName": new["revisionName"], "percent": 10},
                      {"revisionName": previous["revisionName"], "percent": 90}]  # fmt: skip
            assert (
                s.api.post(f"/deploy/apps/{app['id']}/traffic", json={"splits": splits}).status_code
                == 200
            )
            assert s.api.post(f"/deploy/revisions/{new['revisionName']}/promote").status_code == 200
            back = s.wait(s.api.post(f"/deploy/{previous['id']}/rollback").json()["id"])
            for replicas in (3, 1):
                body = {"appId": app["id"], "replicas": replicas}
                assert s.api.post("/deploy/scale", json=body).status_code == 200
                time.sleep(2.0)
            previous = back
    finally:
        result = load.stop()
    return {"cycles": n, **result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--rollbacks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        root = Path(tmp)
        shas = make_repo(root)
        s = Slipway(root)
        try:
            app = s.api.post("/apps", json={"name": "bench", "gitUrl": shas["url"]}).json()
            deps = {"v1": s.deploy(app["id"], shas["v1"]), "v2": s.deploy(app["id"], shas["v2"])}
            revs = (deps["v1"]["revisionName"], deps["v2"]["revisionName"])
            out = {"traffic_live": traffic_live(s, app, revs, args.changes)}
            out["rollback"] = rollbacks(s, app, deps, shas, args.rollbacks)
            latest = s.api.get("/deploy", params={"appId": app["id"], "limit": 1}).json()["data"][0]
            out["load_cycles"] = cycles(s, app, shas, latest, args.cycles)
        finally:
            s.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
