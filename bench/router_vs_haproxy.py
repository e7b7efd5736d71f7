"""Slipway's router against HAProxy, side by side, in one run on this machine.

Three processes plus the load generator, all on loopback:

- a fast backend: a uvloop asyncio Protocol that answers every request with the same small
  response (13-byte body, Content-Length framed, keep-alive);
- HAProxy (`nbthread 1`, keep-alive both sides, `http-reuse always`, and the same
  X-Forwarded-For/-Proto/-Host headers the router sets), and
- the Slipway `RouterServer` in its own process under uvloop (one thread, like HAProxy), and
- a second `RouterServer` ("isolated") in front of a second copy of the backend that runs in
  a network namespace of its own, as every replica does (issue 10): the router opens its
  upstream sockets inside that namespace (`slipway.sandbox.netns`). Its throughput against
  the first router's, round by round, is what the isolation costs the data plane.

For throughput both proxies are pinned to CPU 1, `wrk -t1` and the backend to CPU 0 (the
machine has two cores), so each proxy gets one whole core and the same neighbours; the proxy's
CPU time per request (from /proc) is reported too, as it moves less with other load.
Throughput: `wrk -t1 -c64` against the backend directly, HAProxy and the router, several
rounds alternating, reported as median and min-max of requests/s and the router/HAProxy
ratio of each round.

Latency: for each target, `wrk` paced with a Lua `delay()` (each connection waits a fixed
time between requests, so the offered rate is fixed and well below saturation) at half the
router's median throughput; its p99 is read from wrk's HdrHistogram. Nothing is pinned in
this phase (nothing saturates; pinning would only make a proxy wait for a busy core). "Added
p99" is the p99 through a proxy minus the p99 straight to the backend, in the same round.

    python bench/router_vs_haproxy.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
HAPROXY_CFG = """\
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:{port}
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend be
backend be
    server s1 127.0.0.1:{backend}
"""
PACED_LUA = """\
local pause = {pause}
function delay() return math.random(0, 2 * pause) end
function done(summary, latency, requests)
  io.write(string.format("P99_US %d\\n", latency:percentile(99)))
  io.write(string.format("P50_US %d\\n", latency:percentile(50)))
end
"""
PROXY_CPU, LOAD_CPU = "1", "0"


# ---------------------------------------------------------------------- child processes


class FixedResponse(asyncio.Protocol):
    """Answers each request head (no bodies in this benchmark) with RESPONSE."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        n = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4 :] if n else data
        if n:
            self.transport.write(RESPONSE * n)  # type: ignore[attr-defined]


async def serve_backend(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(FixedResponse, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def serve_router(port: int, backend: int, netns: str) -> None:
    from slipway.domain.routes import Backend, Route, Target
    from slipway.router import RouterServer

    router = RouterServer()
    await router.start("127.0.0.1", port)
    target = Target("ws/bench/bench-00001", 100, (Backend("127.0.0.1", backend, netns),))
    router.set_routes("bench", [Route("127.0.0.1", (target,))])
    print("ready", flush=True)
    await asyncio.Event().wait()


def run_child(args: argparse.Namespace) -> None:
    import uvloop

    if args.serve == "backend":
        uvloop.run(serve_backend(args.port))
    else:
        uvloop.run(serve_router(args.port, args.backend, args.netns or ""))


# ---------------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0, netns: str = "") -> None:
    from slipway.sandbox.netns import socket_in

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sock = socket_in(netns) if netns else socket.socket()
            with sock:
                sock.settimeout(0.5)
                sock.connect(("127.0.0.1", port))
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def spawn(cpu: str, argv: list[str], port: int, netns: str = "") -> subprocess.Popen[bytes]:
    enter = ["nsenter", f"--net={netns}", "--"] if netns else []
    proc = subprocess.Popen([*enter, "taskset", "-c", cpu, *argv], stdout=subprocess.DEVNULL)
    wait_port(port, netns=netns)
    return proc


def make_netns(name: str) -> str:
    """A network namespace with its loopback up, as the sandbox makes them."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return f"/run/netns/{name}"


def wrk(port: int, *, duration: float, connections: int, script: Path | None = None) -> str:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{round(duration)}s"]
    if script is None:
        argv = ["taskset", "-c", LOAD_CPU, *argv]  # throughput: wrk shares the backend's core
    else:
        argv += ["-s", str(script)]
    argv.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    if "Non-2xx" in out.stdout or "Socket errors" in out.stdout:
        raise RuntimeError(f"wrk saw errors on port {port}:\n{out.stdout}")
    return out.stdout


def requests_per_second(output: str) -> float:
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(output)
    return float(match.group(1))


def p99_ms(output: str) -> float:
    match = re.search(r"P99_US (\d+)", output)
    if match is None:
        raise RuntimeError(output)
    return int(match.group(1)) / 1000


def summary(values: list[float], unit: str, digits: int = 0) -> str:
    fmt = f"{{:.{digits}f}}"
    med, lo, hi = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"median {med} {unit} (min {lo}, max {hi})"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput_rounds(
    ports: dict[str, int], pids: dict[str, int], args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Requests/s per target per round, and the proxies' CPU microseconds per request."""
    rps: dict[str, list[float]] = {name: [] for name in ports}
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    for i in range(args.rounds):
        order = list(ports) if i % 2 == 0 else list(reversed(ports))
        for name in order:
            before = cpu_seconds(pids[name]) if name in pids else 0.0
            out = wrk(ports[name], duration=args.duration, connections=args.connections)
            rps[name].append(requests_per_second(out))
            if name in pids:
                used = cpu_seconds(pids[name]) - before
                cpu[name].append(used * 1e6 / (rps[name][-1] * args.duration))
        print(f"round {i + 1}: " + ", ".join(f"{n} {rps[n][-1]:.0f}" for n in ports), flush=True)
    return rps, cpu


def latency_rounds(
    ports: dict[str, int], pids: list[int], rate: float, args: argparse.Namespace, tmp: Path
) -> dict[str, list[float]]:
    pause_ms = 5  # mean; each pause is uniform in 0..10 ms so connections do not move in step
    connections = max(1, round(rate * pause_ms / 1000))
    script = tmp / "paced.lua"
    script.write_text(PACED_LUA.format(pause=pause_ms))
    p99: dict[str, list[float]] = {name: [] for name in ports}
    for pid in pids:  # unpinned: at half load nothing saturates, let the scheduler place work
        os.sched_setaffinity(pid, range(os.cpu_count() or 1))
    for i in range(args.rounds):
        for name in ports if i % 2 == 0 else reversed(ports):
            out = wrk(ports[name], duration=args.duration, connections=connections, script=script)
            p99[name].append(p99_ms(out))
            achieved = requests_per_second(out)
        print(
            f"paced round {i + 1} (~{achieved:.0f} req/s offered by {connections} conns): "
            + ", ".join(f"{n} p99 {p99[n][-1]:.2f} ms" for n in ports),
            flush=True,
        )
    return p99


def report(
    rps: dict[str, list[float]],
    cpu: dict[str, list[float]],
    p99: dict[str, list[float]],
    rate: float,
) -> None:
    print("\n== throughput (wrk -t1, requests/s)")
    for name, values in rps.items():
        print(f"{name:8} {summary(values, 'req/s')}")
    ratios = [r / h for r, h in zip(rps["router"], rps["haproxy"], strict=True)]
    print(f"router/haproxy ratio per round: {summary(ratios, 'x', 2)}")
    isolated = [i / r for i, r in zip(rps["isolated"], rps["router"], strict=True)]
    print(f"isolated/router ratio per round: {summary(isolated, 'x', 3)}")
    print("\n== CPU time per request of the proxy process (less sensitive to neighbours)")
    for name, values in cpu.items():
        print(f"{name:8} {summary(values, 'us', 1)}")
    cpu_ratios = [h / r for r, h in zip(cpu["router"], cpu["haproxy"], strict=True)]
    print(f"haproxy/router CPU-per-request ratio: {summary(cpu_ratios, 'x', 2)}")
    cpu_isolated = [r / i for r, i in zip(cpu["router"], cpu["isolated"], strict=True)]
    print(f"router/isolated CPU-per-request ratio: {summary(cpu_isolated, 'x', 3)}")
    print(f"\n== p99 latency at ~{rate:.0f} req/s (half the router's median throughput)")
    for name, values in p99.items():
        print(f"{name:8} {summary(values, 'ms', 2)}")
    for name in ("haproxy", "router", "isolated"):
        added = [p - d for p, d in zip(p99[name], p99["direct"], strict=True)]
        print(f"added p99 {name}: {summary(added, 'ms', 2)}")


def orchestrate(args: argparse.Namespace) -> None:
    me = [sys.executable, str(Path(__file__).resolve())]
    backend, haproxy, router, isolated = free_port(), free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    ns_name = f"slipway-bench-{os.getpid()}"
    netns = make_netns(ns_name)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=haproxy, backend=backend))
        try:
            procs.append(
                spawn(LOAD_CPU, [*me, "--serve", "backend", "--port", str(backend)], backend)
            )
            procs.append(spawn(PROXY_CPU, ["/usr/sbin/haproxy", "-db", "-f", str(cfg)], haproxy))
            pids = {"haproxy": procs[-1].pid}
            procs.append(
                spawn(
                    PROXY_CPU,
                    [*me, "--serve", "router", "--port", str(router), "--backend", str(backend)],
                    router,
                )
            )
            pids["router"] = procs[-1].pid
            serve_inside = [*me, "--serve", "backend", "--port", str(backend)]
            procs.append(spawn(LOAD_CPU, serve_inside, backend, netns=netns))
            argv = [*me, "--serve", "router", "--port", str(isolated), "--backend", str(backend)]
            procs.append(spawn(PROXY_CPU, [*argv, "--netns", netns], isolated))
            pids["isolated"] = procs[-1].pid
            ports = {"direct": backend, "haproxy": haproxy, "router": router, "isolated": isolated}
            for port in ports.values():  # warm up: connections, pools, caches
                wrk(port, duration=1, connections=args.connections)
            rps, cpu = throughput_rounds(ports, pids, args)
            rate = statistics.median(rps["router"]) / 2
            p99 = latency_rounds(ports, [p.pid for p in procs], rate, args, tmp)
            report(rps, cpu, p99, rate)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            subprocess.run(["ip", "netns", "delete", ns_name], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--serve", choices=["backend", "router"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--netns", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_child(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
