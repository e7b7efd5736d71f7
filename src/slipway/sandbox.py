"""The bubblewrap sandbox that builds, release commands and replicas run in.

Builds and replicas run other people's code. Inside the sandbox a process sees:
- its app's files at `/app`,
- the host's toolchains read-only (`/usr`, `/bin`, `/lib*`, the Python Slipway runs on),
- a few harmless files of `/etc` (DNS, CA certificates, users, package-manager config),
- a private `/tmp`, its own `/proc` and a minimal `/dev`,
- the environment it is given and nothing else (`--clearenv`).
It does not see the platform's data directory, its database, its keys or any other app. It
runs as an unprivileged user in its own user, PID, IPC and UTS namespaces and dies with its
parent. It shares the host network so that replicas can listen on loopback for the router
and builds can reach package registries.

Builds get `/app` writable; replicas get it read-only (`app_writable=False`), so no replica can
change the image that the other replicas and later rollbacks run. Replicas write to `/tmp`.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SANDBOX_UID = 1000
SANDBOX_GID = 1000

_TOOLCHAIN_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/wheels")
_ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/mime.types",
    "/etc/pip.conf",
    "/etc/xdg/pip",
)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def python_prefix() -> str:
    """The directory of the Python toolchain Slipway itself runs on (bound read-only)."""
    return str(Path(sys.base_prefix).resolve())


def toolchain_path() -> str:
    tools = f"{python_prefix()}/bin:/usr/local/bin:/usr/bin:/bin"
    return f"/app/.venv/bin:/app/node_modules/.bin:{tools}"


def sandbox_argv(
    argv: Sequence[str],
    *,
    app_dir: str | Path,
    env: Mapping[str, str],
    binds: Mapping[str, str | Path] | None = None,
    workdir: str = "/app",
    app_writable: bool = True,
) -> list[str]:
    """The bwrap argument list that runs `argv` with `app_dir` at `/app`.

    `binds` maps a path inside the sandbox to a host directory, bound writable (per-app
    caches, for example). Nothing is ever joined into a shell string here.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError("bubblewrap (bwrap) is not installed")
    args: list[str] = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--hostname",
        "slipway",
    ]
    for d in (*_TOOLCHAIN_DIRS, python_prefix()):
        if Path(d).exists():
            args += ["--ro-bind", d, d]
    for f in _ETC_FILES:
        if Path(f).exists():
            args += ["--ro-bind", f, f]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 (private tmpfs)
    args += ["--bind" if app_writable else "--ro-bind", str(app_dir), "/app"]
    for inside, host in (binds or {}).items():
        args += ["--bind", str(host), inside]
    args += ["--chdir", workdir, "--clearenv"]
    full_env = {"PATH": toolchain_path(), "HOME": "/tmp", "LANG": "C.UTF-8"}  # noqa: S108
    full_env.update(env)
    for key, value in full_env.items():
        args += ["--setenv", key, value]
    args += ["--", *argv]
    return args
