"""The sandbox that every piece of tenant code runs in: builds, the unpacking of a commit's
tree, release commands and replicas.

A sandboxed process tree (`SandboxHost.start`) gets:
- **its own host uid**, unprivileged and per app (`uid_for(app.serial)`, stable across
  restarts), never root: bubblewrap runs as root only to build the sandbox, then `setpriv`
  drops to that uid with no capabilities and `no_new_privs` before the tenant's command runs;
- **its own namespaces**: mount (only `/app`, the toolchains read-only, a few files of
  `/etc`, a private `/tmp`), PID, IPC, UTS, cgroup, and a network namespace of its own
  (`netns.py`: outbound access through pasta, the router's port, nothing of the host's
  loopback);
- **a seccomp filter** (`seccomp.py`) denying nested user namespaces, mounts, ptrace, bpf,
  keyrings and the other calls Kubernetes' RuntimeDefault denies;
- **limits** (`cgroups.py`): memory (with `/tmp` counted, as tmpfs is charged to the group),
  processes and CPU as a cgroup of its own, or rlimits (`prlimit`) where the host has no
  usable cgroups; `Sandboxed.enforcement` says which;
- **its environment through the process environment** (`execve`'s envp), never argv:
  `/proc/<pid>/environ` is readable by root and by the process's own uid only, and the
  sandbox cannot see any process outside its PID namespace.
What needs root, and why: see docs/SECURITY.md ("What runs as root").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slipway.sandbox import cgroups, netns, seccomp
from slipway.sandbox.cgroups import Cgroups, Group, Limits
from slipway.sandbox.netns import Netns, NetworkError

__all__ = [
    "APP_PORT",
    "BUILD_LIMITS",
    "MIB",
    "REPLICA_LIMITS",
    "Jail",
    "Limits",
    "NetworkError",
    "SandboxError",
    "SandboxHost",
    "Sandboxed",
    "python_prefix",
    "toolchain_path",
]

MIB = 1024 * 1024
REPLICA_LIMITS = Limits(memory_bytes=512 * MIB, pids=256, cpus=1.0)
BUILD_LIMITS = Limits(memory_bytes=4096 * MIB, pids=1024, cpus=2.0)
DEFAULT_UID_BASE = 1_000_000_000
APP_PORT = 8080  # every replica listens on $PORT inside its own network namespace
ROUTER_PORT_INSIDE = 9080  # 127.0.0.1:9080 in a sandbox reaches the router
SHM_BYTES = 64 * MIB
UMASK_SCRIPT = 'umask 022; exec "$@"'

_TOOLCHAIN_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/wheels")
_ETC_FILES = (
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
_KEPT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")  # for setpriv, and nothing else


class SandboxError(RuntimeError):
    """The sandbox could not be started (a missing tool, a setup failure)."""


def python_prefix() -> str:
    """The directory of the Python toolchain Slipway itself runs on (bound read-only)."""
    return str(Path(sys.base_prefix).resolve())


def toolchain_path() -> str:
    tools = f"{python_prefix()}/bin:/usr/local/bin:/usr/bin:/bin"
    return f"/app/.venv/bin:/app/node_modules/.bin:{tools}"


@dataclass(frozen=True)
class Jail:
    """What one sandboxed process tree gets."""

    uid: int  # the host uid it runs as (`SandboxHost.uid_for`)
    app_dir: Path  # bound at /app
    env: Mapping[str, str]
    limits: Limits
    app_writable: bool = False  # builds write /app; replicas and release commands do not
    binds: Mapping[str, Path] = field(default_factory=dict)  # sandbox path -> host dir (rw)
    # sandbox path -> host dir, read-only (toolchains at /opt/slipway/toolchains/<name>)
    ro_binds: Mapping[str, Path] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)  # sandbox path -> content (ro)
    workdir: str = "/app"
    network: bool = True  # outbound access; False: loopback only
    router: bool = False  # 127.0.0.1:ROUTER_PORT_INSIDE reaches the router


@dataclass
class Sandboxed:
    """A started sandbox: its process (the outer bubblewrap) and what to clean up after it."""

    proc: asyncio.subprocess.Process
    enforcement: str  # "cgroup v2", "cgroup v1" or "rlimit"
    netns: str = ""  # the network namespace's path ("" when it has only loopback)
    group: Group | None = None
    _net: Netns | None = None
    _releasing: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def oom_kills(self) -> int:
        return self.group.oom_kills() if self.group is not None else 0

    def kill(self) -> None:
        """SIGKILL every process of the sandbox (the whole cgroup when there is one)."""
        if self.proc.returncode is None:  # not reaped: the group id is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.group is not None:
            for pid in self.group.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    async def release(self) -> None:
        """After the process exited: make sure nothing of it is left, then remove its cgroup
        and network namespace. Every caller waits for the same one release, which a
        cancelled caller does not interrupt."""
        if self._releasing is None:
            self._releasing = asyncio.ensure_future(self._release())
        await asyncio.shield(self._releasing)

    async def _release(self) -> None:
        if self.group is not None:
            for _ in range(200):
                self.kill()
                if self.group.remove():
                    break
                await asyncio.sleep(0.01)
        if self._net is not None:
            await self._net.close()


class SandboxHost:
    """Starts sandboxes on this machine. Made once (bootstrap) and shared by the builder and
    the runtime; detects the host's cgroups once."""

    def __init__(
        self,
        *,
        uid_base: int = DEFAULT_UID_BASE,
        router_port: int | None = None,
        limits_by: Cgroups | None = None,
    ) -> None:
        self.uid_base = uid_base
        self.router_port = router_port
        self.cgroups = limits_by if limits_by is not None else cgroups.detect()
        self._seccomp = seccomp.program(seccomp.host_arch())

    @property
    def enforcement(self) -> str:
        return self.cgroups.kind or "rlimit"

    def uid_for(self, serial: int) -> int:
        """The host uid of an app's processes: `uid_base + serial`, never 0."""
        if serial <= 0:
            raise SandboxError("the app has no serial number to derive its uid from")
        return self.uid_base + serial

    async def sweep(self) -> list[str]:
        """Remove the network namespaces and cgroups of Slipway processes that are gone (a
        crash, a SIGKILL): what their sandboxes left behind. Their names."""
        return [*await netns.sweep(), *self.cgroups.sweep()]

    @staticmethod
    def problems() -> list[str]:
        """What this host lacks to start sandboxes (empty when nothing)."""
        found: list[str] = []
        if os.geteuid() != 0:
            found.append("the sandbox needs root (per-app uids, cgroups, network namespaces)")
        for tool, package in (("bwrap", "bubblewrap"), ("pasta", "passt"),
                              ("setpriv", "util-linux"), ("nsenter", "util-linux"),
                              ("prlimit", "util-linux"), ("ip", "iproute2")):  # fmt: skip
            if shutil.which(tool) is None:
                found.append(f"{tool} is missing (apt-get install {package})")
        return found

    async def start(
        self,
        argv: Sequence[str],
        jail: Jail,
        *,
        stdin: int | None = asyncio.subprocess.DEVNULL,
        stdout: int | None = asyncio.subprocess.PIPE,
        stderr: int | None = asyncio.subprocess.PIPE,
        limit: int = 2**16,
    ) -> Sandboxed:
        """Start `argv` in a sandbox described by `jail`. It runs no tenant code before its
        limits apply; the caller reads its output, waits for it and then calls `release()`.

        A cancelled caller never leaves a half-started sandbox behind: the start (spawn,
        bubblewrap's handshake, the cgroup) is not interrupted half-way, where bubblewrap's
        process could outlive its parent outside its cgroup and a thread could wait on its
        info pipe for ever; it finishes (milliseconds), then what it started is stopped."""
        starting = asyncio.ensure_future(
            self._start(argv, jail, stdin=stdin, stdout=stdout, stderr=stderr, limit=limit)
        )
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # a start that failed left nothing
                box = await starting
                box.kill()
                with contextlib.suppress(ProcessLookupError):
                    await box.proc.wait()
                await box.release()
            raise

    async def _start(
        self,
        argv: Sequence[str],
        jail: Jail,
        *,
        stdin: int | None,
        stdout: int | None,
        stderr: int | None,
        limit: int,
    ) -> Sandboxed:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxError("the sandbox (bubblewrap) is not installed")
        net = await Netns.create(outbound=True, router=self._router(jail)) if jail.network else None
        group: Group | None = None
        opened: list[int] = []
        try:
            group = self.cgroups.create(jail.limits) if self.cgroups.available else None
            files = dict(jail.files)
            files["/etc/passwd"] = _passwd(jail.uid)
            files["/etc/group"] = _group(jail.uid)
            if net is not None:
                files["/etc/resolv.conf"] = f"nameserver {netns.DNS_ADDRESS}\n".encode()
            data_fds = {path: _memfd(content, opened) for path, content in files.items()}
            seccomp_fd = _memfd(self._seccomp, opened)
            info_r, info_w = _pipe(opened)
            block_r, block_w = _pipe(opened)
            args = bwrap_argv(
                jail,
                bwrap=bwrap,
                data_fds=data_fds,
                seccomp_fd=seccomp_fd,
                info_fd=info_w,
                block_fd=block_r,
                own_netns=net is None,
                rlimits=None if group is not None else jail.limits,
            )
            if net is not None:
                args = ["nsenter", f"--net={net.path}", "--", *args]
            env = {"PATH": toolchain_path(), "HOME": "/tmp", "LANG": "C.UTF-8"}  # noqa: S108
            if net is not None and self._router(jail):
                env["SLIPWAY_ROUTER_URL"] = f"http://127.0.0.1:{ROUTER_PORT_INSIDE}"
            env.update(jail.env)
            proc = await asyncio.create_subprocess_exec(
                *args, *argv,
                stdin=stdin, stdout=stdout, stderr=stderr, env=env, limit=limit,
                start_new_session=True,
                pass_fds=(*data_fds.values(), seccomp_fd, info_w, block_r),
            )  # fmt: skip
            for fd in (*data_fds.values(), seccomp_fd, info_w, block_r):
                _close(fd, opened)
            box = Sandboxed(proc, self.enforcement, net.path if net else "", group, net)
        except BaseException:
            for fd in opened:
                os.close(fd)
            if group is not None:
                group.remove()
            if net is not None:
                await net.close()
            raise
        try:
            child = await _child_pid(info_r)
            if group is not None and child is not None:
                group.add(proc.pid)
                group.add(child)
            with contextlib.suppress(BrokenPipeError):
                os.write(block_w, b"1")  # the sandbox may run now
        except BaseException:
            box.kill()
            await proc.wait()
            await box.release()
            raise
        finally:
            for fd in (info_r, block_w):
                _close(fd, opened)
        return box

    def _router(self, jail: Jail) -> tuple[int, int] | None:
        if jail.router and self.router_port:
            return ROUTER_PORT_INSIDE, self.router_port
        return None


# --------------------------------------------------------------------------- bwrap's argv


def bwrap_argv(
    jail: Jail,
    *,
    bwrap: str,
    data_fds: Mapping[str, int],
    seccomp_fd: int,
    info_fd: int,
    block_fd: int,
    own_netns: bool,
    rlimits: Limits | None,
) -> list[str]:
    """The argument list up to the tenant's command (which the caller appends). Nothing is
    joined into a shell string; user values only ever follow the final `--`."""
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "slipway"]
    if own_netns:
        args.append("--unshare-net")
    args += ["--cap-drop", "ALL"]
    for cap in _KEPT_CAPS:
        args += ["--cap-add", cap]
    mounts = _Mounts()
    for d in (*_TOOLCHAIN_DIRS, python_prefix()):
        if Path(d).exists():
            mounts.bind("--ro-bind", d, d)
    for f in _ETC_FILES:
        if Path(f).exists():
            mounts.bind("--ro-bind", f, f)
    for path, fd in data_fds.items():
        mounts.data(fd, path)
    mounts.special("--proc", "/proc")
    mounts.special("--dev", "/dev")
    mounts.tmpfs("/tmp", jail.limits.memory_bytes)  # noqa: S108 (the sandbox's own)
    mounts.tmpfs("/dev/shm", min(SHM_BYTES, jail.limits.memory_bytes))  # noqa: S108
    mounts.bind("--bind" if jail.app_writable else "--ro-bind", str(jail.app_dir), "/app")
    for inside, host in jail.binds.items():
        mounts.bind("--bind", str(host), inside)
    for inside, host in jail.ro_binds.items():
        _check_ro_bind(inside, host)
        mounts.bind("--ro-bind", str(host), inside)
    args += mounts.args
    args += ["--chdir", jail.workdir]
    args += ["--seccomp", str(seccomp_fd), "--info-fd", str(info_fd), "--block-fd", str(block_fd)]
    args.append("--")
    if rlimits is not None:
        nproc, data = rlimits.pids, rlimits.memory_bytes
        args += ["prlimit", f"--nproc={nproc}:{nproc}", f"--data={data}:{data}", "--"]
    args += ["setpriv", f"--reuid={jail.uid}", f"--regid={jail.uid}", "--clear-groups"]
    args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    # The usual umask (the platform's own is 077); a constant script: the command follows
    # as its arguments, which the shell passes on to exec without reading them.
    args += ["/bin/sh", "-c", UMASK_SCRIPT, "sandbox"]
    return args


_RO_BIND_PATH = re.compile(r"^(/[A-Za-z0-9_+@][A-Za-z0-9._+@-]*)+$")
_RESERVED = ("/app", "/tmp", "/proc", "/dev", "/etc")  # noqa: S108 (sandbox paths)


def _check_ro_bind(inside: str, host: Path) -> None:
    """A read-only bind must name plain absolute paths (no `..`, no option-like or odd
    characters: each becomes one argument of bwrap's, never a shell word) and may not
    cover or hide what the sandbox itself mounts (/app, /tmp, the toolchains, /etc...)."""
    source = str(host)
    if not _RO_BIND_PATH.fullmatch(inside) or ".." in inside.split("/"):
        raise SandboxError(f"refusing a read-only bind at {inside!r}")
    if not source.startswith("/") or os.path.normpath(source) != source or "\n" in source:
        raise SandboxError(f"refusing a read-only bind of {source!r}")
    for taken in (*_RESERVED, *_TOOLCHAIN_DIRS, python_prefix()):
        if _overlaps(inside, taken):
            raise SandboxError(f"a read-only bind at {inside} would cover {taken}")


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


class _Mounts:
    """bwrap mount arguments, with every directory bwrap would create on the way made
    0755 (bubblewrap running as root makes them 0700, which the tenant's uid cannot enter)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}
        self._mounted: list[str] = []

    def bind(self, how: str, source: str, dest: str) -> None:
        self._parents(dest)
        self.args += [how, source, dest]
        self._mounted.append(dest)

    def special(self, how: str, dest: str) -> None:
        self.args += [how, dest]
        self._mounted.append(dest)

    def data(self, fd: int, dest: str) -> None:
        """A read-only file of the given content (bwrap would make it 0600, root's)."""
        self._parents(dest)
        self.args += ["--perms", "0444", "--ro-bind-data", str(fd), dest]
        self._mounted.append(dest)

    def tmpfs(self, dest: str, size: int) -> None:
        self._parents(dest)
        self.args += ["--perms", "1777", "--size", str(size), "--tmpfs", dest]
        self._mounted.append(dest)

    def _parents(self, dest: str) -> None:
        parents = list(Path(dest).parents)[::-1][1:]  # "/a", "/a/b" for "/a/b/c"
        for parent in map(str, parents):
            if parent in self._dirs or self._under_mount(parent):
                continue
            self._dirs.add(parent)
            self.args += ["--perms", "0755", "--dir", parent]

    def _under_mount(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self._mounted)


def _passwd(uid: int) -> bytes:
    return f"root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:{uid}:{uid}:app:/tmp:/bin/sh\n".encode()


def _group(uid: int) -> bytes:
    return f"root:x:0:\napp:x:{uid}:\n".encode()


def _memfd(content: bytes, opened: list[int]) -> int:
    fd = os.memfd_create("slipway-sandbox", os.MFD_CLOEXEC)
    opened.append(fd)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _pipe(opened: list[int]) -> tuple[int, int]:
    r, w = os.pipe()
    opened += [r, w]
    return r, w


def _close(fd: int, opened: list[int]) -> None:
    if fd in opened:
        opened.remove(fd)
        os.close(fd)


async def _child_pid(info_fd: int) -> int | None:
    """The host pid of the sandbox's first process, from bubblewrap's `--info-fd`; None when
    bubblewrap failed before it got there (its error is on the process's stderr)."""
    loop = asyncio.get_running_loop()
    data = b""
    while True:
        chunk = await loop.run_in_executor(None, os.read, info_fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None
