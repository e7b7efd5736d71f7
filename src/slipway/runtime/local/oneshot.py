"""One-off commands in a revision's sandbox: the release command (CONTRACT §4, §5).

The command runs like a replica would (same sandbox, the image read-only at `/app`, the
revision's env, no `PORT`), once, with stdout and stderr merged line by line into the log
sink. It gets its own session, so a timeout or a cancellation kills its whole process tree.
"""

from __future__ import annotations

import asyncio
import contextlib

from slipway.domain.errors import DeployFailed
from slipway.ports import LogSink, RevisionSpec
from slipway.runtime.local import process

MAX_LINE = 65536


async def run_once(
    spec: RevisionSpec, command: str, *, log: LogSink, timeout: float, use_sandbox: bool
) -> int:
    proc = await process.spawn_app(
        command,
        app_dir=spec.app_dir,
        env=spec.env,
        use_sandbox=use_sandbox,
        merge_stderr=True,
        limit=MAX_LINE * 2,
    )
    try:
        await asyncio.wait_for(_pump(proc, log), timeout)
        return await proc.wait()
    except TimeoutError:
        raise DeployFailed(
            f"the release command did not finish within {timeout:g} seconds."
        ) from None
    finally:
        if proc.returncode is None:
            process.kill_now(proc)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(proc.wait())


async def _pump(proc: asyncio.subprocess.Process, log: LogSink) -> None:
    """Every output line to `log` (over-long lines are cut), until the output closes."""
    stream = proc.stdout
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the limit: take what is buffered
            raw = await stream.read(MAX_LINE)
        if not raw:
            return
        await log(raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n"))
