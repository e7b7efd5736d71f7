"""What a sandbox costs to start (issue 10), for the cold start of a replica (issue 14).

Three figures per round, as medians and min-max over the rounds:
- the network namespace with pasta attached (`Netns.create`, then closed), alone;
- a sandbox with network (namespace, pasta, cgroup, bubblewrap, setpriv) running `true`,
  from `SandboxHost.start` to its exit;
- the same without network (bubblewrap's own loopback-only namespace), the reference.

    python bench/sandbox_start.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from slipway.sandbox import REPLICA_LIMITS, Jail, SandboxHost
from slipway.sandbox.netns import Netns


async def run_true(host: SandboxHost, app: Path, *, network: bool) -> float:
    jail = Jail(uid=host.uid_for(1), app_dir=app, env={}, limits=REPLICA_LIMITS, network=network)
    started = time.perf_counter()
    box = await host.start(["true"], jail)
    await box.proc.wait()
    elapsed = time.perf_counter() - started
    await box.release()
    return elapsed


async def measure(rounds: int) -> dict[str, list[float]]:
    host = SandboxHost()
    figures: dict[str, list[float]] = {"netns + pasta": [], "with network": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        app.mkdir(mode=0o755)
        for _ in range(rounds):
            started = time.perf_counter()
            net = await Netns.create(outbound=True)
            figures["netns + pasta"].append(time.perf_counter() - started)
            await net.close()
            figures["with network"].append(await run_true(host, app, network=True))
            figures["without"].append(await run_true(host, app, network=False))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    for name, values in asyncio.run(measure(args.rounds)).items():
        ms = [v * 1000 for v in values]
        spread = f"min {min(ms):.1f}, max {max(ms):.1f}"
        print(f"{name:14} median {statistics.median(ms):.1f} ms ({spread})")
    print(f"enforcement: {SandboxHost().enforcement}")


if __name__ == "__main__":
    main()
