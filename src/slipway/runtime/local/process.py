"""Spawning, inspecting and killing one replica's (or release command's) sandbox.

Each runs in a sandbox of its own (`slipway.sandbox`): the image read-only at `/app`, the
app's own host uid, its own network namespace where it listens on `$PORT` (`APP_PORT`), and
the limits of `limits_for(spec)`. Inside, the user's command runs in a PID namespace under
bubblewrap's init, which does not forward SIGTERM. So a graceful stop sends SIGTERM to every
*descendant* of the sandbox's outer process (which reaches the user's command), and the final
SIGKILL goes to the whole sandbox (its process group and cgroup): when the outer bubblewrap
dies, the kernel kills everything left in its PID namespace.

An image built on toolchains of the store (`builder/toolchains.py`) names them in its config
label `dev.slipway.toolchains` ("node-18.20.4,yarn-1.22.22"); each replica and release
command gets them bound read-only at `/opt/slipway/toolchains/<entry>` from the store next to
the images (`<data>/toolchains/`, the image being `<data>/images/<hex>/app`), with the image's
PATH and corepack variables (the app's own env still wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path

from slipway.ports import RevisionSpec
from slipway.sandbox import MIB, REPLICA_LIMITS, Jail, Limits, Sandboxed, SandboxError, SandboxHost

KILL_AFTER_SECONDS = 10.0
TOOLCHAINS_LABEL = "dev.slipway.toolchains"
TOOLCHAINS_MOUNT = "/opt/slipway/toolchains"
_ENTRY = re.compile(
    r"^[a-z]+(?:-[a-z]+)?-\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?$"
)
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


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
    ro_binds, image_env = image_toolchains(Path(spec.app_dir))
    jail = Jail(
        uid=sandbox.uid_for(spec.app_serial),
        app_dir=Path(spec.app_dir),
        env={**image_env, **env},
        limits=limits_for(spec),
        router=True,
        ro_binds=ro_binds,
    )
    return await sandbox.start(
        ["sh", "-c", command],
        jail,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        limit=limit,
    )


def image_toolchains(app_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The read-only binds and env an image's toolchains need ({}, {} for an image without
    any, or a directory that is not an image). SandboxError when an entry the image names
    is gone from the store."""
    names, env = _image_config(str(app_dir))
    if not names:
        return {}, {}
    store = app_dir.parent.parent.parent / "toolchains"
    binds: dict[str, Path] = {}
    for name in names:
        host = store / name
        if not (host.exists() or host.is_symlink()):
            raise SandboxError(f"the toolchain {name} this image was built with is gone")
        binds[f"{TOOLCHAINS_MOUNT}/{name}"] = host
    return binds, dict(env)


_Config = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_CONFIGS: dict[str, _Config] = {}


def _image_config(app_dir: str) -> _Config:
    """(toolchain entries, env) from the OCI config of the image whose tree is `app_dir`
    (an image's layout never changes once stored, so what was read is kept)."""
    if app_dir in _CONFIGS:
        return _CONFIGS[app_dir]
    layout = Path(app_dir).parent
    try:
        index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
        manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]))
        config = json.loads(_blob(layout, manifest["config"]["digest"]))["config"]
        labels = config.get("Labels") or {}
        listed = str(labels.get(TOOLCHAINS_LABEL, ""))
        env_items = [str(e).split("=", 1) for e in config.get("Env") or []]
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return (), ()
    names = tuple(n for n in listed.split(",") if n)
    bad = [n for n in names if not _ENTRY.fullmatch(n)]
    if bad:
        raise SandboxError(f"the image names a toolchain {bad[0][:80]!r} that is not valid")
    env = tuple(
        (kv[0], kv[1])
        for kv in env_items
        if len(kv) == 2 and (kv[0] == "PATH" or kv[0].startswith("COREPACK_"))
    )
    found = (names, env)
    if len(_CONFIGS) > 256:
        _CONFIGS.clear()
    _CONFIGS[app_dir] = found
    return found


def _blob(layout: Path, digest: object) -> bytes:
    m = _DIGEST.fullmatch(str(digest))
    if m is None:
        raise ValueError("not a sha256 digest")
    return (layout / "blobs" / "sha256" / m[1]).read_bytes()


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
