"""Draining: a revision or replica that loses its traffic stops only once the router holds
no request of it any more (CONTRACT §6).

The order is always the same: the route table is rebuilt without it first (so the router
picks it for no new request), then `wait_drained` polls the router's in-flight count for the
revision until it reads 0 (up to the drain limit, 30 s by default), and only then the runtime
stops it: SIGTERM, then SIGKILL.

A zero reading after the route change proves that every request sent to the drained
replicas has finished, even while other replicas of the same revision keep serving: the
count covers the whole revision, so a moment with none in flight is a moment with none in
flight to the drained ones either. Under a steady load such moments come every few
milliseconds; under back-to-back long requests the limit ends the wait.

`Retirements` runs the retirement of whole revisions in the background, one task per
revision key, and lets a revision that is wanted again (a traffic change, a rollback) be
kept: its retirement is cancelled while it is still only waiting, or awaited to its end when
it is already stopping, so the runtime never stops replicas that just got traffic back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from slipway.ports import Router

log = logging.getLogger(__name__)

POLL_SECONDS = 0.005

Stop = Callable[[str], Awaitable[None]]  # stops every replica of a revision key


async def wait_drained(router: Router, key: str, *, timeout: float) -> bool:
    """Wait until the router has no request of revision `key` in flight; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while router.in_flight(key) > 0:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


@dataclass
class _Retiring:
    task: asyncio.Task[None] | None = None
    stopping: bool = False


class Retirements:
    """Whole revisions being drained and stopped, by revision key."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Retiring] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def start(self, key: str, *, stop: Stop, router: Router, limit: float) -> None:
        """Drain revision `key` in the background, then `stop(key)` it (once; a second call
        is a no-op). Its routes must already be gone."""
        if key in self._by_key:
            return
        entry = _Retiring()
        self._by_key[key] = entry
        coro = self._retire(key, entry, stop=stop, router=router, limit=limit)
        entry.task = asyncio.get_running_loop().create_task(coro)

    async def wait(self, keys: Iterable[str]) -> None:
        """Return once none of `keys` is being retired any more."""
        tasks = [e.task for k in keys if (e := self._by_key.get(k)) and e.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def keep(self, key: str) -> None:
        """The revision is wanted again: call off its retirement, or let a stop that has
        begun finish (the caller then starts fresh replicas)."""
        entry = self._by_key.get(key)
        if entry is None or entry.task is None:
            return
        if not entry.stopping:
            entry.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(entry.task)

    async def _retire(
        self, key: str, entry: _Retiring, *, stop: Stop, router: Router, limit: float
    ) -> None:
        try:
            if not await wait_drained(router, key, timeout=limit):
                log.warning("%s still had requests in flight after %gs; stopping it", key, limit)
            entry.stopping = True
            await stop(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retiring %s failed", key)
        finally:
            if self._by_key.get(key) is entry:
                del self._by_key[key]

    async def close(self) -> None:
        tasks = [e.task for e in self._by_key.values() if e.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
