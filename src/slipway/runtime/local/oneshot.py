"""One-off commands in a revision's sandbox: the release command (CONTRACT §4, §5).

The command runs like a replica would (same sandbox, the image read-only at `/app`, the
revision's env, no `PORT`), once, with stdout and stderr merged line by line into the log
sink. It gets its own session, so a timeout or a cancellation kills its whole process tree.
"""

from __future__ import annotations

import asyncio

from slipway.domain.errors import DeployFailed
from slipway.ports import LogSink, RevisionSpec
from slipway.runtime.local import process
from slipway.sandbox import SandboxHost

MAX_LINE = 65536


async def run_once(
    spec: RevisionSpec, command: str, *, log: LogSink, timeout: float, sandbox: SandboxHost
) -> int:
    box = await process.spawn_app(
        sandbox, spec, command, env=spec.env, merge_stderr=True, limit=MAX_LINE * 2
    )
    try:
        await asyncio.wait_for(_pump(box.proc, log), timeout)
        code = await box.proc.wait()
        if box.oom_kills():
            limit = process.limits_for(spec).memory_mb
            await log(f"[slipway] OOMKilled: a process passed the {limit} MiB memory limit")
        return code
    except TimeoutError:
        raise DeployFailed(
            f"the release command did not finish within {timeout:g} seconds."
        ) from None
    finally:
        await process.kill(box)


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
