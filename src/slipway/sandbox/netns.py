"""Network namespaces for sandboxes, and sockets opened inside them.

Every sandboxed process tree runs in a network namespace of its own, so nothing it does
reaches the host's loopback (the API, the database, other replicas) and nothing it binds is
a port of the host. The platform makes the namespace first, as a named one
(`ip netns add`, a file under /run/netns), and bubblewrap enters it (through `nsenter`):
- **Outbound**: `pasta` (passt) is attached to it for outbound TCP/UDP through the host's
  sockets, with the gateway not mapped to the host (`--no-map-gw`), no inbound port forwarded
  and, from the namespace to the host, only the router's port (`-T PORT`, so apps can call
  each other through the router at `127.0.0.1:PORT`). DNS goes to an address pasta forwards
  to the host's resolver (`--dns-forward`), so it works with a loopback resolver too.
- **Inbound**: the router and the health probes open their sockets *inside* the namespace
  (`socket_in`: setns to it, socket(), setns back; ~16 µs, once per pooled connection), and
  connect to the replica's `127.0.0.1:$PORT` there. No host port, no userspace forwarder on
  the data path: pasta's own inbound forwarding measured ~25k requests/s, far below the
  router's.
A namespace without pasta (`outbound=False`) has only its loopback: the checkout of a tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "slipway-"
DNS_ADDRESS = "169.254.1.1"  # what the sandbox's resolv.conf names; pasta forwards it
CLONE_NEWNET = 0x40000000
SETUP_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)
_lock = threading.Lock()
_names = itertools.count()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class NetworkError(RuntimeError):
    """A sandbox's network could not be set up."""


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise NetworkError(f"{argv[0]} failed: {err.decode(errors='replace').strip()[-200:]}")


class Netns:
    """A named network namespace the platform made, and the pasta process serving it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = str(NETNS_DIR / name)
        self._pasta: asyncio.subprocess.Process | None = None

    @classmethod
    async def create(cls, *, outbound: bool, router: tuple[int, int] | None = None) -> Netns:
        """A new namespace; with `outbound`, pasta attached; with `router` = (port inside,
        port of the host's loopback), that one port of the host reachable from inside.
        A caller cancelled meanwhile leaves nothing behind."""
        making = asyncio.ensure_future(cls._make(outbound, router))
        try:
            return await asyncio.shield(making)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await (await making).close()
            raise

    @classmethod
    async def _make(cls, outbound: bool, router: tuple[int, int] | None) -> Netns:
        netns = cls(f"{PREFIX}{os.getpid()}-{next(_names)}")
        await _run("ip", "netns", "add", netns.name)
        try:
            if outbound:
                await netns._attach_pasta(router)
            else:
                await _run("ip", "-n", netns.name, "link", "set", "lo", "up")
        except BaseException:
            await netns.close()
            raise
        return netns

    async def _attach_pasta(self, router: tuple[int, int] | None) -> None:
        ready_r, ready_w = os.pipe()
        try:
            argv = [
                "setpriv", "--pdeathsig", "SIGKILL", "--",
                "pasta", "--config-net", "--no-map-gw", "--quiet", "--foreground",
                "--runas", "0",  # the 2023 pasta drops to --runas before it joins a netns
                "-t", "none", "-u", "none", "-U", "none",
                "-T", f"{router[0]}:{router[1]}" if router else "none",
                "--dns-forward", DNS_ADDRESS,
                "--pid", f"/proc/self/fd/{ready_w}",  # written once the namespace is set up
                "--netns", self.path, "--netns-only",
            ]  # fmt: skip
            self._pasta = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, pass_fds=(ready_w,),
            )  # fmt: skip
            os.close(ready_w)
            ready_w = -1
            await self._wait_ready(ready_r)
        finally:
            os.close(ready_r)
            if ready_w >= 0:
                os.close(ready_w)

    async def _wait_ready(self, fd: int) -> None:
        assert self._pasta is not None
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(fd, _resolve, ready)
        exited = asyncio.ensure_future(self._pasta.wait())
        try:
            done, _ = await asyncio.wait({ready, exited}, timeout=SETUP_TIMEOUT,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            loop.remove_reader(fd)
            exited.cancel()
        if ready not in done:
            ready.cancel()
            code = self._pasta.returncode
            raise NetworkError(
                "the sandbox network (pasta) did not start"
                + (f": it exited with status {code}" if code is not None else " in time")
            )

    async def close(self) -> None:
        """Stop pasta and delete the namespace (what still runs in it keeps it alive)."""
        if self._pasta is not None and self._pasta.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._pasta.kill()
            await self._pasta.wait()
        with contextlib.suppress(NetworkError):
            await _run("ip", "netns", "delete", self.name)


async def sweep() -> list[str]:
    """Delete the namespaces of Slipway processes that are gone (a crash, a SIGKILL), and
    return their names. A namespace is named `slipway-<pid of its maker>-<n>`."""
    removed: list[str] = []
    for name in _orphans():
        with contextlib.suppress(NetworkError):
            await _run("ip", "netns", "delete", name)
            removed.append(name)
    return removed


def _orphans() -> list[str]:
    try:
        names = [entry.name for entry in NETNS_DIR.iterdir()]
    except OSError:
        return []
    return [
        n for n in names if (pid := _maker(n)) is not None and not Path(f"/proc/{pid}").exists()
    ]


def _maker(name: str) -> int | None:
    if not name.startswith(PREFIX):
        return None
    pid, _, _ = name[len(PREFIX) :].partition("-")
    return int(pid) if pid.isdigit() else None


# --------------------------------------------------------------------------- sockets


@contextlib.contextmanager
def _inside(path: str) -> Iterator[None]:
    """Run the body with the calling thread in the network namespace at `path`, then return
    it to its own. Needs CAP_SYS_ADMIN (the platform runs as root)."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _lock:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target)
                try:
                    yield
                finally:
                    _back(home)
            finally:
                os.close(home)
    finally:
        os.close(target)


def socket_in(path: str, family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking TCP socket that belongs to the network namespace at `path`.

    The calling thread enters the namespace only for the socket() call; the socket stays
    in that namespace for its whole life.
    """
    with _inside(path):
        sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


def listening_ports(path: str) -> set[int]:
    """The TCP ports something listens on inside the network namespace at `path` (read from
    `/proc/thread-self/net/tcp{,6}` while this thread is in it)."""
    tables: list[str] = []
    with _inside(path):
        for name in ("tcp", "tcp6"):
            with (
                contextlib.suppress(OSError),
                open(f"/proc/thread-self/net/{name}", encoding="ascii") as proc_net,
            ):
                tables.append(proc_net.read())
    ports: set[int] = set()
    for table in tables:
        for row in table.splitlines()[1:]:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot enter the sandbox's network namespace: {os.strerror(err)}")


def _back(home: int) -> None:
    """Return to our own namespace; a thread that cannot must not go on making sockets."""
    try:
        _setns(home)
    except OSError:  # pragma: no cover - needs a kernel that refuses our own namespace
        os._exit(70)


async def open_connection(
    host: str, port: int, netns: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection` to `host:port` as seen from inside `netns` ("" = the host)."""
    if not netns:
        return await asyncio.open_connection(host, port)
    sock = await connect_in(netns, host, port)
    return await asyncio.open_connection(sock=sock)


async def connect_in(netns: str, host: str, port: int) -> socket.socket:
    """A socket connected to `host:port` inside `netns`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket_in(netns, family)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock
