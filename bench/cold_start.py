"""A request to an app at zero replicas, through a real `slipway up` (loopback only, bounded
loops): time to the first byte of the answer, and what it is made of.

The app is the stdlib Python server of the other benchmarks, with minReplicas 0 and
maxReplicas 1; the platform scales it to zero after 1 s without requests. Each run waits
until no replica of it runs, then sends one request on a fresh connection and times the first
byte of the answer (target: <= 1 s). The parts come from the platform's own figures
(`slipway_activation_seconds{phase}`, the activator's clock):

- scheduled: the router's ask → the app's replica count written and the replica asked of
  the runtime;
- started: → a replica healthy (sandbox, app start, the first probe that passes);
- routed: → the activator's route push acknowledged by the router process (the readiness
  event has usually pushed them already);
- the rest: the router holding and asking, releasing, and the proxied request.

References, same run: the first byte of a request to the warm app (right after each cold
one), and the same app started by hand (`python3 main.py`, no sandbox, no platform) until
its first byte.

Run from the repository root: `python bench/cold_start.py [--runs 10]`.
Prints JSON; docs/benchmarks.md ("Scale to zero") has the figures and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from rollout_cycle import Slipway, free_port, make_repo

HOST = "cold.bench.localhost"
ENV = {
    "SLIPWAY_SCALE_TO_ZERO_SECONDS": "1",
    "SLIPWAY_AUTOSCALE_STABLE_SECONDS": "2",
    "SLIPWAY_AUTOSCALE_PANIC_SECONDS": "1",
}
PHASE = re.compile(r'slipway_activation_seconds\{[^}]*phase="(\w+)"[^}]*\} ([0-9.e+-]+)')


def first_byte(port: int, host: str, timeout: float = 60.0) -> float:
    """Seconds from connecting to the first byte of the answer (a 200, else an error)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(12)
        elapsed = time.perf_counter() - started
        if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
            raise RuntimeError(f"answered {head!r}")
    return elapsed


def by_hand(app_dir: Path) -> float:
    """The app started without the platform, until the first byte of an answer."""
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "main.py"], cwd=app_dir, env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(1):
                        return time.perf_counter() - started
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root, ("ok",))["url"]
        platform = Slipway(root, env=ENV)
        token = (platform.data / "metrics.token").read_text().strip()
        try:
            body = {"name": "cold", "gitUrl": repo, "minReplicas": 0, "maxReplicas": 1}
            app = platform.api.post("/apps", json=body).json()
            platform.wait(platform.api.post("/deploy", json={"appId": app["id"]}).json()["id"])

            def at_zero() -> bool:
                revs = platform.api.get(f"/deploy/apps/{app['id']}/revisions").json()
                wanted = platform.api.get(f"/apps/{app['id']}").json()["replicas"]
                return wanted == 0 and sum(r["total"] for r in revs) == 0

            def phases() -> dict[str, float]:
                text = httpx.get(
                    f"http://127.0.0.1:{platform.api_port}/metrics",
                    headers={"Authorization": f"Bearer {token}"},
                ).text
                return {name: float(v) for name, v in PHASE.findall(text)}

            cold: list[float] = []
            warm: list[float] = []
            parts: dict[str, list[float]] = {"scheduled": [], "started": [], "routed": []}
            rest: list[float] = []
            for _ in range(args.runs):
                deadline = time.monotonic() + 120
                while not at_zero():
                    if time.monotonic() > deadline:
                        raise RuntimeError("the app did not go to zero")
                    time.sleep(0.2)
                time.sleep(0.5)  # the last replica's exit settles
                cold.append(first_byte(platform.router_port, HOST))
                warm.append(first_byte(platform.router_port, HOST))
                seen = phases()
                for name in parts:
                    parts[name].append(seen[name])
                rest.append(cold[-1] - sum(seen.values()))
            hand = [by_hand(Path(repo)) for _ in range(args.runs)]
            print(json.dumps({
                "first_byte_at_zero": stats(cold),
                "parts": {name: stats(values) for name, values in parts.items()}
                | {"router_and_rest": stats(rest)},
                "reference_warm_request": stats(warm),
                "reference_started_by_hand": stats(hand),
                "ratio_cold_over_by_hand_median": round(
                    statistics.median(cold) / statistics.median(hand), 2
                ),
            }, indent=2))  # fmt: skip
        finally:
            platform.close()


if __name__ == "__main__":
    main()
