"""Spawning, inspecting and killing one replica's process tree.

A replica is started in its own session (`start_new_session=True`), so its process group id
is its pid. Inside the bubblewrap sandbox the user's command runs in a fresh PID namespace and
session of its own, and the outer `bwrap` process dies on SIGTERM without forwarding it. So a
graceful stop sends SIGTERM to every *descendant* of the replica's root process (which reaches
the user's command), and the final SIGKILL goes to the whole process group as well: when the
outer `bwrap` dies the kernel kills everything left in its PID namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path

from slipway.sandbox import sandbox_argv

KILL_AFTER_SECONDS = 10.0


async def spawn_app(
    command: str,
    *,
    app_dir: str,
    env: Mapping[str, str],
    use_sandbox: bool,
    merge_stderr: bool,
    limit: int = 2**16,
) -> asyncio.subprocess.Process:
    """Start the user's `command` against the image at `app_dir` (bound at /app in the
    sandbox), in a session of its own, with stdout (and stderr, or merged) piped."""
    argv = ["sh", "-c", command]
    cwd: str | None = None
    run_env: dict[str, str] | None = None
    if use_sandbox:
        argv = sandbox_argv(argv, app_dir=app_dir, env=env, app_writable=False)
    else:  # tests of the runtime itself, on hosts without bubblewrap
        path = os.environ.get("PATH", "/usr/bin:/bin")
        run_env = {"PATH": path, "HOME": tempfile.gettempdir(), **env}
        cwd = app_dir
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        start_new_session=True,
        cwd=cwd,
        env=run_env,
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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_now(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group and every descendant, without waiting."""
    tree = descendants(proc.pid)
    _signal_group(proc.pid, signal.SIGKILL)
    _signal_pids(tree, signal.SIGKILL)


async def terminate(
    proc: asyncio.subprocess.Process, *, sandboxed: bool, grace: float = KILL_AFTER_SECONDS
) -> None:
    """SIGTERM the tree, SIGKILL it after `grace` seconds, reap the root process and wait
    until every process of the tree is gone."""
    tree = descendants(proc.pid) if proc.returncode is None else []
    if proc.returncode is None:
        if sandboxed:
            _signal_pids(tree, signal.SIGTERM)
        else:
            _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    # Whatever is left of the group (or of a daemonised grandchild) goes now.
    kill_now(proc)
    _signal_pids(tree, signal.SIGKILL)
    await proc.wait()
    for _ in range(100):
        if not any(_exists(pid) for pid in tree):
            return
        await asyncio.sleep(0.02)


def _exists(pid: int) -> bool:
    """Whether `pid` is still a process (not yet reaped); zombies of ours count as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


class PortAllocator:
    """Hands out free loopback ports, never one that a live replica of ours holds."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._taken: set[int] = set()

    def allocate(self) -> int:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        for _ in range(100):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((self._host, 0))
                port = int(sock.getsockname()[1])
            if port not in self._taken:
                self._taken.add(port)
                return port
        raise RuntimeError("no free port")

    def release(self, port: int) -> None:
        self._taken.discard(port)
