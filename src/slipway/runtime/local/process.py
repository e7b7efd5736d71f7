"""Spawning, inspecting and killing one replica's (or release command's) sandbox.

Each runs in a sandbox of its own (`slipway.sandbox`): the image read-only at `/app`, the
app's own host uid, its own network namespace where it listens on `$PORT` (`APP_PORT`), and
the limits of `limits_for(spec)`. Inside, the user's command runs in a PID namespace under
bubblewrap's init, which does not forward SIGTERM. So a graceful stop sends SIGTERM to every
*descendant* of the sandbox's outer process (which reaches the user's command), and the final
SIGKILL goes to the whole sandbox (its process group and cgroup): when the outer bubblewrap
dies, the kernel kills everything left in its PID namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from slipway.ports import RevisionSpec
from slipway.sandbox import MIB, REPLICA_LIMITS, Jail, Limits, Sandboxed, SandboxHost

KILL_AFTER_SECONDS = 10.0


def limits_for(spec: RevisionSpec) -> Limits:
    """A replica's limits: the defaults, with the app's own memory when it set one."""
    if spec.memory_mb is None:
        return REPLICA_LIMITS
    return Limits(memory_bytes=spec.memory_mb * MIB, pids=REPLICA_LIMITS.pids,
                  cpus=REPLICA_LIMITS.cpus)  # fmt: skip


async def spawn_app(
    sandbox: SandboxHost,
    spec: RevisionSpec,
    command: str,
    *,
    env: Mapping[str, str],
    merge_stderr: bool,
    limit: int = 2**16,
) -> Sandboxed:
    """Start the user's `command` against the revision's image, with stdout (and stderr,
    or merged) piped."""
    jail = Jail(
        uid=sandbox.uid_for(spec.app_serial),
        app_dir=Path(spec.app_dir),
        env=env,
        limits=limits_for(spec),
        router=True,
    )
    return await sandbox.start(
        ["sh", "-c", command],
        jail,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        limit=limit,
    )


def descendants(root: int) -> list[int]:
    """Every live descendant of `root`, found by walking /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _signal_pids(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def terminate(box: Sandboxed, *, grace: float = KILL_AFTER_SECONDS) -> None:
    """SIGTERM the sandbox's processes, SIGKILL them after `grace` seconds, reap it and
    release what it held."""
    proc = box.proc
    if proc.returncode is None:
        _signal_pids(descendants(proc.pid), signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    await kill(box)


async def kill(box: Sandboxed) -> None:
    """SIGKILL everything of the sandbox at once, reap it and release what it held."""
    box.kill()
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(box.proc.wait())
    await box.release()
