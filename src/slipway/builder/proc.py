"""Child processes of the builder: started without a shell, killed as a whole group.

Every process starts in its own session (`start_new_session=True`), so its process id is also
its process-group id and `os.killpg` reaches everything it forked that stayed in the group.
Sandboxed commands are started by `slipway.sandbox` and read with `read_lines`.

`read_lines` forwards output line by line as it is written: stdout and stderr share one pipe (so
their order is kept), a line longer than `MAX_LINE` bytes is cut, and after the sink's line
limit the pipe is still drained so the child never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

MAX_LINE = 4096
MAX_RUNAWAY_LINE = 1024 * 1024
_CHUNK = 65536


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group `proc` leads and reap `proc`. Safe to call twice.

    Only while `proc` is not reaped: after that its id may belong to a stranger's group.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    # `wait()` returns only once the pipes are closed too, and a reader that stopped reading
    # (a runaway line, say) has paused its pipe: drain what is left so EOF can be seen.
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(_drain(pipe), 10)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(proc.wait())


async def _drain(pipe: asyncio.StreamReader) -> None:
    while await pipe.read(_CHUNK):
        pass


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdout: int | None = asyncio.subprocess.PIPE,
    stderr: int | None = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )


async def run(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> tuple[int, bytes, bytes]:
    """Run to completion and return (exit status, stdout, stderr).

    On cancellation or timeout the whole group is killed before the error propagates.
    """
    proc = await spawn(argv, env=env)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    finally:
        await kill_group(proc)
    assert proc.returncode is not None
    return proc.returncode, out, err


class LineTooLong(Exception):
    """A command printed one line longer than `MAX_RUNAWAY_LINE` bytes."""


class LineSplitter:
    """Turns a byte stream into text lines of at most `MAX_LINE` bytes each.

    A longer line is cut at `MAX_LINE` (minified bundles print those); one longer than
    `MAX_RUNAWAY_LINE` is a runaway command, and `feed` raises `LineTooLong`.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False  # inside the unlogged tail of an over-long line
        self._skipped = 0  # bytes of the current line already dropped

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        self._buf += data
        while (nl := self._buf.find(b"\n")) >= 0:
            piece = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            self._count(len(piece))
            if not self._skipping:
                lines.append(_decode(piece[:MAX_LINE]))
            self._skipping, self._skipped = False, 0
        if self._buf and (self._skipping or len(self._buf) > MAX_LINE):
            if not self._skipping:
                lines.append(_decode(bytes(self._buf[:MAX_LINE])))
            self._skipping = True
            self._count(len(self._buf))
            self._skipped += len(self._buf)
            self._buf.clear()
        return lines

    def _count(self, more: int) -> None:
        if self._skipped + more > MAX_RUNAWAY_LINE:
            raise LineTooLong

    def flush(self) -> list[str]:
        rest = b"" if self._skipping else bytes(self._buf)
        self._buf.clear()
        return [_decode(rest)] if rest else []


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


async def read_lines(
    stream: asyncio.StreamReader, on_line: Callable[[str], Awaitable[None]]
) -> None:
    """Hand each line of `stream` to `on_line` as it appears, until the stream ends.
    Raises LineTooLong for a runaway line."""
    splitter = LineSplitter()
    while chunk := await stream.read(_CHUNK):
        for line in splitter.feed(chunk):
            await on_line(line)
    for line in splitter.flush():
        await on_line(line)


async def stream(
    argv: Sequence[str], *, on_line: Callable[[str], Awaitable[None]], timeout: float | None
) -> int:
    """Run `argv` (on the host), handing each output line to `on_line` as it appears; return
    the status. Raises TimeoutError after `timeout` seconds; the group is killed on every
    exit path."""
    proc = await spawn(argv, env={}, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            await read_lines(proc.stdout, on_line)
            return await proc.wait()
    finally:
        await kill_group(proc)
