"""Live build-log fan-out inside one process: writers append, watchers get every line.

The store keeps the whole log; the hub only tells watchers that lines were added, so a
watcher reads the backlog from the store and then follows the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class LogHub:
    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = defaultdict(list)
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._closed: set[str] = set()

    def publish(self, deployment_id: str, first_index: int, lines: list[str]) -> None:
        buf = self._lines[deployment_id]
        if first_index == len(buf):
            buf.extend(lines)
        self._wake(deployment_id)

    def close(self, deployment_id: str) -> None:
        """No more lines will come (the deployment reached a terminal state)."""
        self._closed.add(deployment_id)
        self._wake(deployment_id)
        self._lines.pop(deployment_id, None)

    def is_closed(self, deployment_id: str) -> bool:
        return deployment_id in self._closed

    def lines_since(self, deployment_id: str, index: int) -> list[str]:
        return self._lines.get(deployment_id, [])[index:]

    async def wait(self, deployment_id: str, timeout: float) -> None:
        event = self._events[deployment_id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _wake(self, deployment_id: str) -> None:
        event = self._events.pop(deployment_id, None)
        if event is not None:
            event.set()
