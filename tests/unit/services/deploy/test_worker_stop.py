"""The worker stops when cancelled, even when the cancellation meets a wake-up: shutting down
cancels the running deployments first, whose ends set `platform.wake`, then the worker; on
Python 3.11 `asyncio.wait_for` returned the wake-up and dropped the cancellation, and
`slipway up` then never exited after SIGTERM."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from slipway.services.deploy.pipeline import Worker
from slipway.services.platform.leasing import LeaseSettings


class NothingToClaim:
    async def claim_deployment(self, **_: object) -> None:
        return None


async def test_a_worker_cancelled_as_it_wakes_stops() -> None:
    for turns in range(4):  # the wake-up lands 0 to 3 event-loop turns before the cancellation
        platform = SimpleNamespace(
            wake=asyncio.Event(),
            store=NothingToClaim(),
            settings=SimpleNamespace(builds_per_workspace=1),
            leases=LeaseSettings(),
            owns_replicas=lambda: True,
        )
        task = asyncio.ensure_future(Worker(platform).run())  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # asleep, waiting for a wake-up
        platform.wake.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done, f"still running after its cancellation ({turns} turns)"
