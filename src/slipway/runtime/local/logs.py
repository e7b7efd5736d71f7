"""Runtime logs on disk: every replica output line of an app, bounded by rotation per app.

Layout: `{root}/{workspace_id}/{app_id}/current.jsonl`, then `1.jsonl` (newer) up to
`{keep}.jsonl` (older). A line is one JSON object: `seq` (per app, increasing, never reused
while its files exist), `ts` (Unix seconds), `revision`, `replica`, `stream`, `line`. When
`current.jsonl` passes `max_bytes` it is renamed `1.jsonl`, the others shift by one and the
oldest is deleted, so an app never holds more than about `(keep + 1) * max_bytes` on disk.

Writes are small appends from the event loop (the page cache absorbs them) and are visible
to readers at once. Reads scan the app's files (a few MiB at most). Watchers of an app wait on
an `asyncio.Event` that every write of that app sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from slipway.domain.ids import is_id
from slipway.ports import AppLogLine, RevisionSpec

MAX_BYTES = 1 << 20
KEEP = 4
CURRENT = "current.jsonl"


class _AppFile:
    """The open `current.jsonl` of one app and its next sequence number."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.next_seq = _last_seq(directory) + 1
        self.handle: IO[str] = open(directory / CURRENT, "a", encoding="utf-8")  # noqa: SIM115
        self.size = self.handle.tell()
        self.event = asyncio.Event()


def _files_oldest_first(directory: Path, keep: int) -> list[Path]:
    rotated = [directory / f"{n}.jsonl" for n in range(keep, 0, -1)]
    return [p for p in [*rotated, directory / CURRENT] if p.exists()]


def _files_to_scan(directory: Path, keep: int, since: int | None) -> list[Path]:
    """The files that may hold lines from `since` on, oldest first."""
    files = _files_oldest_first(directory, keep)
    if since is None:
        return files
    for start in range(len(files) - 1, -1, -1):
        if _first_seq(files[start]) <= since:
            return files[start:]
    return files


def _first_seq(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError, KeyError), open(path, encoding="utf-8") as f:
        return int(json.loads(f.readline())["seq"])
    return 0


def _last_seq(directory: Path) -> int:
    for path in reversed(_files_oldest_first(directory, KEEP)):
        with contextlib.suppress(OSError, ValueError, KeyError):
            tail = path.read_text(encoding="utf-8").rstrip("\n").rsplit("\n", 1)[-1]
            if tail:
                return int(json.loads(tail)["seq"])
    return 0


class AppLogFiles:
    """Implements `slipway.ports.RuntimeLogs` with JSON-lines files under `root`."""

    def __init__(self, root: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.keep = keep
        self._open: dict[tuple[str, str], _AppFile] = {}

    def _dir(self, workspace_id: str, app_id: str) -> Path | None:
        if not (is_id(workspace_id, "ws") and is_id(app_id, "app")):
            return None  # never a path built from anything but our own ids
        return self.root / workspace_id / app_id

    def write(
        self, *, workspace_id: str, app_id: str, revision: str, replica: str, stream: str, line: str
    ) -> None:
        directory = self._dir(workspace_id, app_id)
        if directory is None:
            return
        key = (workspace_id, app_id)
        app = self._open.get(key)
        if app is None:
            app = self._open[key] = _AppFile(directory)
        record = {
            "seq": app.next_seq,
            "ts": round(time.time(), 3),
            "revision": revision,
            "replica": replica,
            "stream": stream,
            "line": line,
        }
        data = json.dumps(record, ensure_ascii=False) + "\n"
        app.handle.write(data)
        app.handle.flush()
        app.next_seq += 1
        app.size += len(data.encode())
        if app.size >= self.max_bytes:
            self._rotate(app)
        app.event.set()
        app.event = asyncio.Event()

    def _rotate(self, app: _AppFile) -> None:
        app.handle.close()
        directory = app.directory
        (directory / f"{self.keep}.jsonl").unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            older = directory / f"{n}.jsonl"
            if older.exists():
                older.rename(directory / f"{n + 1}.jsonl")
        (directory / CURRENT).rename(directory / "1.jsonl")
        app.handle = open(directory / CURRENT, "a", encoding="utf-8")  # noqa: SIM115
        app.size = 0

    def sink(self, spec: RevisionSpec) -> Callable[[str, str], None]:
        """The `(stream, line)` callback of one new replica of `spec`, with its own id."""
        replica = f"{spec.revision}-{secrets.token_hex(3)}"

        def write(stream: str, line: str) -> None:
            self.write(
                workspace_id=spec.workspace_id,
                app_id=spec.app_id,
                revision=spec.revision,
                replica=replica,
                stream=stream,
                line=line,
            )

        return write

    def read(
        self,
        workspace_id: str,
        app_id: str,
        *,
        since: int | None,
        limit: int,
        revision: str | None = None,
    ) -> list[AppLogLine]:
        """With `since`: the first `limit` lines whose seq >= since; without: the last
        `limit` lines. Oldest first; optionally of one revision."""
        directory = self._dir(workspace_id, app_id)
        if directory is None or limit <= 0:
            return []
        found: deque[AppLogLine] = deque(maxlen=None if since is not None else limit)
        for path in _files_to_scan(directory, self.keep, since):
            for entry in _entries(path):
                if revision is not None and entry.revision != revision:
                    continue
                if since is not None and entry.seq < since:
                    continue
                found.append(entry)
                if since is not None and len(found) >= limit:
                    return list(found)
        return list(found)

    def next_seq(self, workspace_id: str, app_id: str) -> int:
        """The seq the next line of this app will get."""
        app = self._open.get((workspace_id, app_id))
        if app is not None:
            return app.next_seq
        directory = self._dir(workspace_id, app_id)
        return _last_seq(directory) + 1 if directory is not None and directory.exists() else 1

    async def wait(self, workspace_id: str, app_id: str, timeout: float) -> None:
        """Return at the next line of that app, or after `timeout` seconds."""
        app = self._open.get((workspace_id, app_id))
        if app is None:
            await asyncio.sleep(timeout)
            return
        # `asyncio.timeout`, not `wait_for`, which on Python 3.11 drops a cancellation that
        # meets the event.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await app.event.wait()

    def close(self) -> None:
        for app in self._open.values():
            app.handle.close()
        self._open.clear()


def _entries(path: Path) -> list[AppLogLine]:
    entries = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for raw in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            d = json.loads(raw)
            entries.append(
                AppLogLine(
                    seq=int(d["seq"]),
                    timestamp=float(d["ts"]),
                    revision=str(d["revision"]),
                    replica=str(d["replica"]),
                    stream=str(d["stream"]),
                    line=str(d["line"]),
                )
            )
    return entries
