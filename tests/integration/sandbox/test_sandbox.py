"""The sandbox on this machine: identity, namespaces, seccomp, limits, and clean-up. Every
test starts real sandboxes (bubblewrap, pasta, cgroups) with `SandboxHost`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support import procs

from slipway.sandbox import MIB, REPLICA_LIMITS, Jail, Limits, SandboxHost, netns
from slipway.sandbox.cgroups import Cgroups

SECRET = "sb-secret-3c2b1a09"
FORKS = """
import os, time
count = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        count += 1
except OSError as exc:
    print(type(exc).__name__)
print(count)
"""
SYSCALLS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("keyctl", libc.syscall(250, 0, -3, 0), os.strerror(ctypes.get_errno()))
"""
SERVER = """
import socket
s = socket.socket()
s.bind(("127.0.0.1", 8080))
s.listen()
print("up", flush=True)
c, _ = s.accept()
c.sendall(b"inside")
c.close()
"""


async def run(host: SandboxHost, script: str, jail: Jail) -> tuple[int, str]:
    box = await host.start(["sh", "-c", script], jail, stderr=asyncio.subprocess.STDOUT)
    try:
        assert box.proc.stdout is not None
        out = (await asyncio.wait_for(box.proc.stdout.read(), 60)).decode()
        return await box.proc.wait(), out
    finally:
        await box.release()


def jail(app_dir: Path, **kwargs: object) -> Jail:
    settings: dict = {"uid": 1_000_000_077, "app_dir": app_dir, "env": {}, "limits": REPLICA_LIMITS}
    settings.update(kwargs)
    return Jail(**settings)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    d = tmp_path / "app"
    d.mkdir()
    for name, text in (("forks.py", FORKS), ("syscalls.py", SYSCALLS), ("server.py", SERVER)):
        (d / name).write_text(text)
    return d


@contextlib.asynccontextmanager
async def host_server(answer: bytes) -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_runs_as_the_given_uid_without_capabilities(app_dir: Path) -> None:
    script = "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
    code, out = await run(SandboxHost(), script + "; whoami", jail(app_dir))
    assert code == 0, out
    lines = out.split()
    assert lines[:3] == ["1000000077"] * 3
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out
    assert out.strip().endswith("app")


async def test_nested_user_namespaces_and_keyrings_are_refused(app_dir: Path) -> None:
    script = "unshare -Ur true; echo unshare=$?; python3 syscalls.py"
    _, out = await run(SandboxHost(), script, jail(app_dir))
    assert "unshare=1" in out and "Operation not permitted" in out, out


async def test_env_is_in_the_environment_never_on_a_command_line(app_dir: Path) -> None:
    host = SandboxHost()
    box = await host.start(
        ["sh", "-c", "echo $SECRET; sleep 30"], jail(app_dir, env={"SECRET": SECRET})
    )
    try:
        assert box.proc.stdout is not None
        assert (await box.proc.stdout.readline()).decode().strip() == SECRET
        assert procs.with_text(SECRET) == []
    finally:
        box.kill()
        await box.proc.wait()
        await box.release()


async def test_host_loopback_is_unreachable_but_the_router_port_is(app_dir: Path) -> None:
    async with host_server(b"router") as router_port, host_server(b"private") as private:
        host = SandboxHost(router_port=router_port)
        script = (
            f"python3 -c 'import socket\nfor port in (9080, {private}, {router_port}):\n"
            '    try:\n        s = socket.create_connection(("127.0.0.1", port), 2)\n'
            "        print(port, s.recv(10))\n    except OSError as e:\n"
            "        print(port, type(e).__name__)'"
        )
        code, out = await run(host, script, jail(app_dir, router=True))
    assert code == 0, out
    assert "9080 b'router'" in out
    assert f"{private} ConnectionRefusedError" in out
    assert f"{router_port} ConnectionRefusedError" in out  # only through 9080
    assert "SLIPWAY_ROUTER_URL" not in out


async def test_a_listening_socket_is_reached_from_inside_its_namespace_only(
    app_dir: Path,
) -> None:
    host = SandboxHost()
    box = await host.start(["python3", "server.py"], jail(app_dir))
    try:
        assert box.proc.stdout is not None
        assert (await box.proc.stdout.readline()).strip() == b"up"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", 8080), 1).close()
        reader, writer = await netns.open_connection("127.0.0.1", 8080, box.netns)
        assert await reader.read() == b"inside"
        writer.close()
        assert await box.proc.wait() == 0
    finally:
        await box.release()
    assert not Path(box.netns).exists()  # released: the namespace is gone


async def test_the_process_limit_stops_a_fork_bomb(app_dir: Path) -> None:
    limits = Limits(memory_bytes=256 * MIB, pids=40, cpus=1.0)
    _, out = await run(SandboxHost(), "python3 forks.py", jail(app_dir, limits=limits))
    stopped_by, count = out.split()
    assert stopped_by == "BlockingIOError" and int(count) < 40, out


async def test_memory_past_the_limit_is_an_oom_kill(app_dir: Path) -> None:
    host = SandboxHost()
    limits = Limits(memory_bytes=64 * MIB, pids=64, cpus=1.0)
    grow = "python3 -c 'x = []\nwhile True: x.append(bytearray(4 << 20))'"
    box = await host.start(["sh", "-c", grow], jail(app_dir, limits=limits))
    try:
        await asyncio.wait_for(box.proc.wait(), 60)
        assert box.oom_kills() >= 1
        assert box.enforcement in ("cgroup v1", "cgroup v2")
    finally:
        await box.release()


async def test_tmp_is_capped_at_the_memory_limit(app_dir: Path) -> None:
    limits = Limits(memory_bytes=64 * MIB, pids=64, cpus=1.0)
    script = "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1 | tail -1; ls -l /tmp/fill"
    _, out = await run(SandboxHost(), script, jail(app_dir, limits=limits))
    size = int(out.split()[-5]) if "fill" in out.split()[-1] else 0
    assert size <= 64 * MIB, out


async def test_without_cgroups_rlimits_apply(app_dir: Path) -> None:
    host = SandboxHost(limits_by=Cgroups.none())
    assert host.enforcement == "rlimit"
    limits = Limits(memory_bytes=256 * MIB, pids=30, cpus=1.0)
    script = "grep -E 'processes|data' /proc/self/limits; python3 forks.py"
    _, out = await run(host, script, jail(app_dir, limits=limits, uid=1_000_000_078))
    assert "Max processes             30                   30" in out, out
    assert f"Max data size             {256 * MIB}" in out, out
    stopped_by, count = out.split()[-2:]
    assert stopped_by == "BlockingIOError" and int(count) < 30, out


def _own_namespaces() -> set[Path]:
    """This process's sandbox namespaces (other test workers make theirs meanwhile)."""
    mine = f"{netns.PREFIX}{os.getpid()}-"
    return {p for p in netns.NETNS_DIR.iterdir() if p.name.startswith(mine)}


async def test_outbound_needs_no_host_port_and_leaves_no_namespace(app_dir: Path) -> None:
    before = _own_namespaces()
    _, out = await run(SandboxHost(), "cat /etc/resolv.conf", jail(app_dir))
    assert f"nameserver {netns.DNS_ADDRESS}" in out
    for _ in range(50):  # removing a namespace can lag its sandbox's exit on a busy machine
        if _own_namespaces() <= before:
            break
        await asyncio.sleep(0.1)
    assert _own_namespaces() <= before


async def test_a_checkout_sandbox_has_loopback_only(app_dir: Path) -> None:
    script = "cat /proc/net/dev | tail -n +3 | cut -d: -f1"
    _, out = await run(SandboxHost(), script, jail(app_dir, network=False))
    assert out.split() == ["lo"], out


async def test_sweep_removes_namespaces_of_dead_processes() -> None:
    dead = 4_000_000  # above pid_max: never a live process
    name = f"{netns.PREFIX}{dead}-0"
    subprocess.run(["ip", "netns", "add", name], check=True)
    assert name in await netns.sweep()
    assert not (netns.NETNS_DIR / name).exists()


def _processes_of(uid: int) -> list[int]:
    return [p.pid for p in procs.of_uid(uid)]


async def test_a_start_cancelled_at_any_point_leaves_nothing_running(app_dir: Path) -> None:
    """A deployment cancelled (or a platform stopping) while its sandbox starts: whatever
    point of `start` the cancellation reaches, no process of the tenant's uid is left
    running, in or out of its limits."""
    uid = 1_000_000_078
    host = SandboxHost()
    for step in range(40):  # cancel after 0, 4, 8, … 156 ms: a start takes some tens
        task = asyncio.ensure_future(
            host.start(["sleep", "30"], jail(app_dir, uid=uid, network=step % 2 == 0))
        )
        await asyncio.sleep(step * 0.004)
        task.cancel()
        try:
            box = await task
        except asyncio.CancelledError:
            pass
        else:  # started before the cancellation reached it: the caller stops it
            box.kill()
            await box.proc.wait()
            await box.release()
        for _ in range(50):  # the kill is asynchronous: give it a moment
            if not _processes_of(uid):
                break
            await asyncio.sleep(0.1)
        assert not _processes_of(uid), f"cancelled after {step * 4} ms: still running"
