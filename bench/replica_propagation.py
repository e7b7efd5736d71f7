"""Published replicas: how soon a process without the replicas sees a change.

One PostgreSQL database (a fresh schema, dropped afterwards), one store writing as the
replica owner and two reading views, as a router or API process runs them
(`services/replicastate.PublishedRuntime`): one woken by `NOTIFY slipway_replicas` through
`store/notify.PgListener` (what bootstrap wires), the reference polling alone (its 1 s
refresh, the safety net). Each round publishes a new port for one revision and times until
each view's `status()` shows it. Reported per view: median and min-max over rounds, and
the notify/poll ratio of the medians.

    python bench/replica_propagation.py --rounds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg

from slipway.ports import PublishedReplica
from slipway.runtime.local import LocalRuntime
from slipway.services.serving.published import PublishedRuntime
from slipway.store import SqlStore
from slipway.store.notify import PgListener
from slipway.store.published import REPLICAS_CHANNEL

PG = os.environ.get("SLIPWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEY = "ws1/app1/app1-00001"


async def _seen(view: PublishedRuntime, port: int, started: float) -> float:
    while not any(b.port == port for b in view.status(KEY).backends):
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def _rounds(writer: SqlStore, views: dict[str, PublishedRuntime], rounds: int) -> dict:
    took: dict[str, list[float]] = {name: [] for name in views}
    for n in range(rounds):
        port = 20000 + n
        row = PublishedReplica(KEY, "127.0.0.1", port, True)
        started = time.perf_counter()
        await writer.publish_replicas(owner="bench", key=KEY, replicas=[row])
        times = await asyncio.wait_for(
            asyncio.gather(*(_seen(v, port, started) for v in views.values())), 30
        )
        for name, seconds in zip(views, times, strict=True):
            took[name].append(seconds)
        await asyncio.sleep(0.05 + (n % 7) * 0.1)  # spread the writes over the poll phase
    return took


async def main(rounds: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    args = {"server_settings": {"search_path": schema}}
    writer, reader = SqlStore(PG, connect_args=args), SqlStore(PG, connect_args=args)
    local = LocalRuntime()
    views = {
        "notify": PublishedRuntime(local, reader, leading=lambda: False, lease_seconds=30),
        "poll": PublishedRuntime(local, reader, leading=lambda: False, lease_seconds=30),
    }
    listener = PgListener(PG)
    listener.subscribe(REPLICAS_CHANNEL, views["notify"].kick)
    await writer.migrate()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c) for c in (listener.run(), *(v.run() for v in views.values()))]
    try:
        await asyncio.sleep(1.0)  # the listener connects
        took = await _rounds(writer, views, rounds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await writer.close()
        await reader.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    _report(took)


def _report(took: dict[str, list[float]]) -> None:
    for name, values in took.items():
        ms = [v * 1000 for v in values]
        print(
            f"{name:>6}: median {statistics.median(ms):7.1f} ms  "
            f"(min {min(ms):.1f} - max {max(ms):.1f}, {len(ms)} rounds)"
        )
    ratio = statistics.median(took["notify"]) / statistics.median(took["poll"])
    print(f"notify/poll median ratio: {ratio:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(main(parser.parse_args().rounds))
