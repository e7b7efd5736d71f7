"""Live build-log fan-out inside one process: one writer per build, many watchers.

While a build runs, the hub holds its whole log in memory (the builder caps a log at its line
limit), so a watcher that connects late reads its backlog from the same list the live lines
go to: nothing can fall between "read the backlog" and "follow". The store gets the same
lines a moment later (`DeploymentLog` writes them behind, in batches); the hub forgets a log only
once it is closed *and* every line is stored, so from then on the store alone is complete.

A watcher is a cursor into that shared list plus an `asyncio.Event`: publishing a line costs
one `set()` per watcher and copies nothing, so the writer never waits for a watcher. A
watcher busy sending (not idle waiting for lines, so a burst written at once does not count)
that falls more than `max_lag` lines behind (a client that does not read) is dropped:
its next read raises `WatcherDropped` with the reason, and the other watchers and the build
go on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_LAG = 5000
"""Lines a watcher may be behind before it is dropped."""

CloseListener = Callable[[str, str], None]
"""Called with (workspace_id, deployment_id) when a build's log is closed."""


LOGS_CHANNEL = "slipway_logs"
"""NOTIFY channel (payload: deployment id) after each stored batch of a deployment's log,
for other processes' followers (`LogHub.wake`); their 1 s poll stays the safety net."""


class WatcherDropped(Exception):
    """The watcher fell too far behind; `str(exc)` is the reason to give the client."""


@dataclass(eq=False)
class _Log:
    workspace_id: str
    base: int  # absolute index of lines[0]
    lines: list[str] = field(default_factory=list)
    watchers: set[Watcher] = field(default_factory=set)
    stored: int = 0  # lines below this absolute index are in the store
    closed: bool = False

    @property
    def end(self) -> int:
        return self.base + len(self.lines)


class Watcher:
    """One reader of one live log; read with `next_lines`, release with `close`."""

    def __init__(self, live: _Log, cursor: int, max_lag: int) -> None:
        self._log = live
        self.cursor = cursor
        self._floor = live.end  # the backlog at subscription does not count as lag
        self._max_lag = max_lag
        self._event = asyncio.Event()
        self._dropped: str | None = None
        self._waiting = False  # idle in next_lines: it keeps up, whatever a burst brings
        self._event.set()

    @property
    def finished(self) -> bool:
        """The log is closed and this watcher has read every line of it."""
        return self._log.closed and self.cursor >= self._log.end

    def notify(self) -> None:
        lag = self._log.end - max(self.cursor, self._floor)
        if lag > self._max_lag and self._dropped is None and not self._waiting:
            self._dropped = f"watcher too slow: more than {self._max_lag} lines behind"
            self._log.watchers.discard(self)
        self._event.set()

    async def next_lines(self, timeout: float) -> list[tuple[int, str]]:
        """The lines written since the last call, as (index, line); [] after `timeout`
        seconds without any, or once `finished`."""
        if not self._pending() and not self._log.closed:
            self._waiting = True
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._event.wait()
            finally:
                self._waiting = False
        self._event.clear()
        if self._dropped is not None:
            raise WatcherDropped(self._dropped)
        start = self.cursor - self._log.base
        lines = self._log.lines[start:]
        first, self.cursor = self.cursor, self._log.end
        return [(first + i, line) for i, line in enumerate(lines)]

    def _pending(self) -> bool:
        return self._dropped is not None or self.cursor < self._log.end

    def close(self) -> None:
        self._log.watchers.discard(self)


class LogHub:
    def __init__(self, *, max_lag: int = MAX_LAG) -> None:
        self._logs: dict[str, _Log] = {}
        self._max_lag = max_lag
        self._listeners: list[CloseListener] = []
        self._opening: dict[str, asyncio.Event] = {}

    def open(self, deployment_id: str, *, workspace_id: str, first_index: int = 0) -> None:
        """A build starts writing at `first_index` (lines before it are already stored)."""
        if deployment_id not in self._logs:
            self._logs[deployment_id] = _Log(workspace_id, first_index, stored=first_index)
        opened = self._opening.pop(deployment_id, None)
        if opened is not None:
            opened.set()

    async def wait_live(self, deployment_id: str, timeout: float) -> None:
        """Return when the build of that deployment opens its log, or after `timeout`."""
        if deployment_id in self._logs:
            return
        opened = self._opening.setdefault(deployment_id, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see Worker._sleep
                await opened.wait()
        except TimeoutError:
            if self._opening.get(deployment_id) is opened:
                del self._opening[deployment_id]

    def wake(self, deployment_id: str) -> None:
        """Lines of that deployment were stored by another process (a NOTIFY): followers
        waiting in `wait_live` look at the store now instead of at their next poll."""
        waiting = self._opening.pop(deployment_id, None)
        if waiting is not None:
            waiting.set()

    def publish(self, deployment_id: str, first_index: int, lines: list[str]) -> None:
        live = self._logs.get(deployment_id)
        if live is None or live.closed or first_index != live.end:
            return
        live.lines.extend(lines)
        for watcher in list(live.watchers):
            watcher.notify()

    def stored(self, deployment_id: str, upto: int) -> None:
        """Every line below index `upto` is now in the store."""
        live = self._logs.get(deployment_id)
        if live is not None:
            live.stored = max(live.stored, upto)
            self._forget_if_done(deployment_id, live)

    def close(self, deployment_id: str) -> None:
        """No more lines will come (the deployment's run ended)."""
        live = self._logs.get(deployment_id)
        if live is None or live.closed:
            return
        live.closed = True
        for watcher in list(live.watchers):
            watcher.notify()
        self._forget_if_done(deployment_id, live)
        for listener in list(self._listeners):
            try:
                listener(live.workspace_id, deployment_id)
            except Exception:
                log.exception("a log close listener failed")

    def on_close(self, listener: CloseListener) -> None:
        self._listeners.append(listener)

    def is_live(self, deployment_id: str) -> bool:
        return deployment_id in self._logs

    def end(self, deployment_id: str) -> int:
        """The index after the last line of a live log (0 when there is none)."""
        live = self._logs.get(deployment_id)
        return live.end if live else 0

    def subscribe(self, deployment_id: str, since: int) -> tuple[Watcher, int] | None:
        """Follow a live log from index `since`. Returns the watcher and the first index the
        hub holds (lines from `since` up to it must be read from the store), or None when
        the hub has no live log of that deployment."""
        live = self._logs.get(deployment_id)
        if live is None:
            return None
        watcher = Watcher(live, max(since, live.base), self._max_lag)
        live.watchers.add(watcher)
        return watcher, live.base

    def watchers(self, deployment_id: str) -> int:
        live = self._logs.get(deployment_id)
        return len(live.watchers) if live else 0

    def _forget_if_done(self, deployment_id: str, live: _Log) -> None:
        if live.closed and live.stored >= live.end:
            self._logs.pop(deployment_id, None)
