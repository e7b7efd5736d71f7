"""Live build logs: line latency to WebSocket watchers, and what 50 watchers cost a build.

One process plays the platform as `slipway up` runs it: the API on uvicorn (uvloop) and a
"build" in the same event loop. The build is a real child process printing `--lines` lines
(each carrying the wall-clock time it was printed) over about `--seconds` seconds, read by
the builder's own `proc.stream` into the real `DeploymentLog` (SQLite store by group commit, then
the `LogHub`). Watchers live in a separate process (their CPU is the clients', not the
platform's): `--watchers` WebSocket clients connected before the build starts, each checking
that it gets every line, in order, then the status frame.

Each round runs the same build twice, without watchers and with them, in alternating order;
reported: the build time of each (median, min-max over rounds), the with/without ratio per
round, and the latency of a line from `print` in the build to its arrival at a watcher
(p50/p99 over every line of every watcher, per round).

    python bench/logs_stream.py --rounds 5 --watchers 50 --lines 2000 --seconds 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import uvicorn

from slipway.api import create_app
from slipway.builder import proc
from slipway.domain.ids import new_id
from slipway.domain.models import App, Deployment, utcnow
from slipway.domain.states import DeploymentStatus
from slipway.services.deploy.deploylog import DeploymentLog
from slipway.services.platform import Platform
from slipway.services.resources.keys import create_workspace
from slipway.store import SqlStore

BUILD = """
import sys, time
n, seconds = int(sys.argv[1]), float(sys.argv[2])
for i in range(n):
    print("%.6f build output line %d %s" % (time.time(), i, "x" * 60), flush=True)
    if i % 20 == 19:
        time.sleep(seconds * 20 / n)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield


class _NoPort:
    """The runtime, router, source and builder are not used by this benchmark."""

    def __getattr__(self, name: str):
        raise AssertionError(f"not used: {name}")


async def new_deployment(store: SqlStore, ws_id: str, app_id: str) -> Deployment:
    dep = Deployment(
        id=new_id("dep"),
        workspace_id=ws_id,
        app_id=app_id,
        status=DeploymentStatus.BUILDING,
        created_at=utcnow(),
        started_at=utcnow(),
    )
    await store.scoped(ws_id).deployments.create(dep)
    return dep


async def run_build(platform: Platform, dep: Deployment, lines: int, seconds: float) -> float:
    scoped = platform.store.scoped(dep.workspace_id)
    log = DeploymentLog(platform, scoped, dep.id)
    await log.start()
    started = time.perf_counter()
    argv = [sys.executable, "-c", BUILD, str(lines), str(seconds)]
    await proc.stream(argv, on_line=log, timeout=600)
    elapsed = time.perf_counter() - started
    done = replace(dep, status=DeploymentStatus.SUCCEEDED, finished_at=utcnow())
    await scoped.deployments.update(done)
    platform.logs.close(dep.id)
    return elapsed


async def one_build(platform, ids, args, url_base, key, watchers: int) -> dict:
    dep = await new_deployment(platform.store, *ids)
    child = None
    if watchers:
        url = f"{url_base}/workspaces/{ids[0]}/deploy/{dep.id}/logs/stream"
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", url, key, str(watchers),
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert (await child.stdout.readline()).strip() == b"ready"
    elapsed = await run_build(platform, dep, args.lines, args.seconds)
    result = {"build": elapsed}
    if child is not None:
        out, _ = await child.communicate()
        result.update(json.loads(out))
    return result


async def platform_main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="slipway-bench-logs-"))
    store = SqlStore(f"sqlite:///{tmp / 'slipway.db'}")
    await store.migrate()
    ws, key = await create_workspace(store, "bench")
    now = utcnow()
    app = App(new_id("app"), ws.id, "bench", "https://example.invalid/x.git", now, now)
    await store.scoped(ws.id).apps.create(app)
    nothing = _NoPort()
    platform = Platform(
        store=store, source=nothing, builder=nothing, runtime=nothing, router=nothing
    )  # type: ignore[arg-type]
    port = free_port()
    server = _Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port,
                                    log_level="warning", lifespan="off"))  # fmt: skip
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"ws://127.0.0.1:{port}/api/v1"
    rounds = []
    try:
        for r in range(args.rounds):
            order = [0, args.watchers] if r % 2 == 0 else [args.watchers, 0]
            got = {n: await one_build(platform, (ws.id, app.id), args, base, key, n) for n in order}
            rounds.append(got)
            print(f"round {r + 1}: {json.dumps(got)}", file=sys.stderr)
    finally:
        server.should_exit = True
        await serving
        await store.close()
    report(rounds, args)


def report(rounds: list[dict], args: argparse.Namespace) -> None:
    w = args.watchers
    alone = [r[0]["build"] for r in rounds]
    watched = [r[w]["build"] for r in rounds]
    ratios = [r[w]["build"] / r[0]["build"] for r in rounds]
    p50 = [r[w]["p50_ms"] for r in rounds]
    p99 = [r[w]["p99_ms"] for r in rounds]
    ok = all(r[w]["complete"] == w for r in rounds)

    def fmt(xs: list[float], unit: str = "") -> str:
        return f"{statistics.median(xs):.3f}{unit} (min {min(xs):.3f}, max {max(xs):.3f})"

    print(f"build, no watcher:      {fmt(alone, ' s')}")
    print(f"build, {w} watchers:    {fmt(watched, ' s')}")
    print(f"ratio with/without:     {fmt(ratios)}")
    print(f"line latency p50:       {fmt(p50, ' ms')}")
    print(f"line latency p99:       {fmt(p99, ' ms')}")
    print(f"every watcher got every line in order + status, every round: {ok}")


# ----------------------------------------------------------------------------- watchers


async def watch(url: str, key: str, expect_ready: asyncio.Event, ready: list) -> dict:
    from websockets.asyncio.client import connect

    latencies, indexes, status = [], [], None
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    ) as ws:
        ready.append(1)
        expect_ready.set()
        async for message in ws:
            now = time.time()
            frame = json.loads(message)
            if frame["type"] == "status":
                status = frame["status"]
                continue
            indexes.append(frame["index"])
            latencies.append(now - float(frame["line"].split(" ", 1)[0]))
    return {
        "latencies": latencies,
        "in_order": indexes == list(range(len(indexes))),
        "status": status,
    }


async def child_main(url: str, key: str, n: int) -> None:
    ready: list = []
    event = asyncio.Event()
    tasks = [asyncio.ensure_future(watch(url, key, event, ready)) for _ in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # every handshake done and subscribed
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    results = await asyncio.gather(*tasks)
    lats = sorted(x * 1000 for r in results for x in r["latencies"])
    counts = {len(r["latencies"]) for r in results}
    complete = sum(1 for r in results if r["in_order"] and r["status"] == "succeeded")
    out = {
        "p50_ms": lats[len(lats) // 2],
        "p99_ms": lats[int(len(lats) * 0.99)],
        "max_ms": lats[-1],
        "lines_per_watcher": sorted(counts),
        "complete": complete,
    }
    sys.stdout.write(json.dumps(out) + "\n")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(child_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(platform_main(args))
    except ImportError:
        asyncio.run(platform_main(args))


if __name__ == "__main__":
    main()
