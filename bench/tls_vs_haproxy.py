"""HTTPS at the router against HAProxy terminating TLS, side by side, in one run (issue 16).

The same processes as `router_vs_haproxy.py`, with TLS in front:

- the fast backend of that benchmark (its `--serve backend`: a uvloop Protocol answering a
  13-byte body, keep-alive), which every proxy below forwards to;
- the Slipway router as in production: its own process (`python -m slipway.router.child`),
  started and given its route by `RemoteRouter`, with the operator's default certificate
  (`--tls-cert`), serving HTTPS and plain HTTP on two ports;
- HAProxy with `nbthread 1` (the router is one thread) terminating TLS with the same
  certificate file, the same TLS 1.2 ciphers (`ECDHE+AESGCM:ECDHE+CHACHA20`),
  `ssl-min-ver TLSv1.2`, `alpn http/1.1`, keep-alive to the backend with `http-reuse
  always`, the same X-Forwarded-* headers; it also listens for plain HTTP; and
- a second HAProxy with `nbthread 2`, HTTPS only, not pinned: what the whole machine gives.

The certificate is a throwaway ECDSA P-256 leaf (`tests/support/tlscerts.py`) for
`bench.example` and 127.0.0.1. wrk sends SNI 127.0.0.1 (the URL's host) and `Host:
bench.example`: the router serves its default certificate for any name and routes by Host.
Both servers run the same OpenSSL; wrk (OpenSSL 3) negotiates TLS 1.3 with both.

Two cases, each measured against every target in every round:
- `keep-alive`: wrk's default, many requests per connection: the cost of encrypting;
- `close`: `Connection: close`, a new TCP connection and TLS handshake for each request
  (wrk offers the session it got before, so these are resumed handshakes where the server
  allows it: the probe at the start prints whether each server resumes).

Pinning as in `router_vs_haproxy.py`: the proxies (router, HAProxy x1) on CPU 1, `wrk -t1`
and the backend on CPU 0; HAProxy x2 may use both CPUs (it shares CPU 0 with wrk and the
backend). Rounds alternate the order of the targets. Per target: requests/s (median, min-max
over rounds), p99 from `wrk --latency` (at saturation: mostly queueing), and the proxy's CPU
time per request and share of its core over the run (from /proc: below ~95% the load
generator, not the proxy, was the limit), how busy CPU 0 (wrk and the backend) was, and
wrk's read errors per request (see `wrk()`: one per response from a server that closes
without saying so). Ratios are medians of the per-round ratios.

    python bench/tls_vs_haproxy.py --rounds 5 --duration 10 --connections 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # router_vs_haproxy, tests.support

import router_vs_haproxy as plain  # noqa: E402
from tests.support.tlscerts import ThrowawayCA  # noqa: E402

from slipway.domain.routes import Backend, Route, Target  # noqa: E402
from slipway.router.remote import RemoteRouter  # noqa: E402

HOST = "bench.example"
CIPHERS_TLS12 = "ECDHE+AESGCM:ECDHE+CHACHA20"  # slipway.router.tls.CIPHERS_TLS12
HAPROXY_CFG = """\
global
    nbthread {threads}
    maxconn 4000
    ssl-default-bind-ciphers {ciphers}
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:{https} ssl crt {pem} alpn http/1.1 ssl-min-ver TLSv1.2
{plain_bind}
    option forwardfor
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend be
backend be
    server s1 127.0.0.1:{backend}
"""
CASES = ("keep-alive", "close")


@dataclass
class Config:
    name: str
    url: str
    pid: int  # the proxy process, for its CPU time


@dataclass
class Sample:
    rps: float
    p99_ms: float
    cpu_us: float  # the proxy's CPU time per request
    busy: float  # the proxy's CPU time / wall time
    read_errors: float  # wrk's read errors per completed request
    load_busy: float  # CPU 0 (wrk and the backend) busy over the run


# ---------------------------------------------------------------------- measuring


def p99_ms(output: str) -> float:
    match = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(output)
    return float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]


async def wrk(url: str, case: str, *, duration: float, connections: int) -> str:
    argv = ["taskset", "-c", plain.LOAD_CPU, "wrk", "-t1", f"-c{connections}"]
    argv += [f"-d{round(duration)}s", "--latency", "-H", f"Host: {HOST}"]
    if case == "close":
        argv += ["-H", "Connection: close"]
    proc = await asyncio.create_subprocess_exec(
        *argv, url, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), duration + 60)
    text = out.decode()
    errors = socket_errors(text)
    # A proxy that closes after a `Connection: close` request without saying so in the
    # response (allowed: RFC 9112 9.6 has it as a SHOULD) makes wrk send the next request on
    # the closing connection: one read error per response, counted, not fatal.
    tolerated = {"read"} if case == "close" else set()
    if proc.returncode or "Non-2xx" in text or any(errors[k] for k in errors.keys() - tolerated):
        raise RuntimeError(f"wrk {case} {url} failed:\n{text}{err.decode()}")
    return text


def socket_errors(output: str) -> dict[str, int]:
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    counts = [int(n) for n in match.groups()] if match else [0, 0, 0, 0]
    return dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))


def completed(output: str) -> int:
    match = re.search(r"(\d+) requests in", output)
    if match is None:
        raise RuntimeError(output)
    return int(match.group(1))


async def measure(cfg: Config, case: str, args: argparse.Namespace) -> Sample:
    before, load_before = plain.cpu_seconds(cfg.pid), cpu_times(int(plain.LOAD_CPU))
    loop = asyncio.get_running_loop()
    start = loop.time()
    out = await wrk(cfg.url, case, duration=args.duration, connections=args.connections)
    wall = loop.time() - start
    used = plain.cpu_seconds(cfg.pid) - before
    rps = plain.requests_per_second(out)
    busy, total = (b - a for a, b in zip(load_before, cpu_times(int(plain.LOAD_CPU)), strict=True))
    errors = socket_errors(out)["read"] / completed(out)
    cpu_us = used * 1e6 / (rps * args.duration)
    return Sample(rps, p99_ms(out), cpu_us, used / wall, errors, busy / total)


def cpu_times(cpu: int) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU so far, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(n) for n in line.split()[1:]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            return sum(ticks) - idle, sum(ticks)
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def resumes(port: int) -> str:
    """Whether the server at `port` resumes a TLS session its client offers again."""
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    session = None
    reused = []
    for _ in range(2):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as tls,
        ):
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            while tls.recv(65536):  # to the end: TLS 1.3 tickets come after the handshake
                pass
            session = tls.session
            reused.append(tls.session_reused)
            version = tls.version()
    return f"{version}, resumed on reconnect: {'yes' if reused[-1] else 'no'}"


async def rounds(
    configs: list[Config], args: argparse.Namespace
) -> dict[tuple[str, str], list[Sample]]:
    samples: dict[tuple[str, str], list[Sample]] = {
        (case, c.name): [] for case in CASES for c in configs
    }
    for i in range(args.rounds):
        for case in CASES:
            order = configs if i % 2 == 0 else list(reversed(configs))
            for cfg in order:
                samples[case, cfg.name].append(await measure(cfg, case, args))
            print(
                f"round {i + 1} {case}: "
                + ", ".join(f"{c.name} {samples[case, c.name][-1].rps:.0f}" for c in configs),
                flush=True,
            )
    return samples


# ---------------------------------------------------------------------- reporting


def mid(values: list[float], digits: int = 0, sep: str = ",") -> str:
    fmt = f"{{:{sep}.{digits}f}}"
    med, lo, hi = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{med} ({lo}-{hi})"


def ratio(samples: dict[tuple[str, str], list[Sample]], case: str, a: str, b: str) -> str:
    pairs = zip(samples[case, a], samples[case, b], strict=True)
    return mid([x.rps / y.rps for x, y in pairs], 2)


def cpu_ratio(samples: dict[tuple[str, str], list[Sample]], case: str, a: str, b: str) -> str:
    pairs = zip(samples[case, a], samples[case, b], strict=True)
    return mid([y.cpu_us / x.cpu_us for x, y in pairs], 2)


def report(samples: dict[tuple[str, str], list[Sample]], names: list[str]) -> None:
    print(
        "\n| Case | Target | Requests/s | p99 ms | Proxy CPU µs/request | Proxy CPU busy "
        "| CPU 0 busy (wrk, backend) | wrk read errors/request |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES:
        for name in names:
            got = samples[case, name]
            print(
                f"| {case} | {name} | {mid([s.rps for s in got])} "
                f"| {mid([s.p99_ms for s in got], 2)} | {mid([s.cpu_us for s in got], 1)} "
                f"| {statistics.median(s.busy for s in got):.0%} "
                f"| {statistics.median(s.load_busy for s in got):.0%} "
                f"| {statistics.median(s.read_errors for s in got):.2f} |"
            )
    print("\n| Ratio, per round (median, min-max) | keep-alive | close |")
    print("|---|---|---|")
    rows = [
        ("router https / haproxy https, req/s", ratio, "router https", "haproxy https"),
        ("router https / haproxy x2 https, req/s", ratio, "router https", "haproxy x2 https"),
        ("router https / router http, req/s", ratio, "router https", "router http"),
        ("haproxy https / haproxy http, req/s", ratio, "haproxy https", "haproxy http"),
        ("haproxy / router, CPU per https request", cpu_ratio, "router https", "haproxy https"),
    ]
    for label, fn, a, b in rows:
        print(f"| {label} | " + " | ".join(fn(samples, case, a, b) for case in CASES) + " |")


# ---------------------------------------------------------------------- orchestration


def show_info(sock: Path) -> dict[str, str]:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(b"show info\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return dict(line.split(": ", 1) for line in data.decode().splitlines() if ": " in line)


async def orchestrate(args: argparse.Namespace) -> None:
    backend = plain.free_port()
    router_http, router_https = plain.free_port(), plain.free_port()
    ha_http, ha_https, ha2_https = plain.free_port(), plain.free_port(), plain.free_port()
    procs: list[subprocess.Popen[bytes]] = []
    router: RemoteRouter | None = None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pem, _ = ThrowawayCA.make().leaf_file(tmp / "bench.pem", HOST, "127.0.0.1")
        common = {"ciphers": CIPHERS_TLS12, "pem": pem, "backend": backend}
        cfg1, cfg2 = tmp / "haproxy1.cfg", tmp / "haproxy2.cfg"
        cfg1.write_text(
            HAPROXY_CFG.format(
                threads=1, sock=tmp / "ha1.sock", https=ha_https,
                plain_bind=f"    bind 127.0.0.1:{ha_http}", **common,
            )
        )  # fmt: skip
        cfg2.write_text(
            HAPROXY_CFG.format(
                threads=2, sock=tmp / "ha2.sock", https=ha2_https, plain_bind="", **common
            )
        )
        try:
            me = [sys.executable, str(HERE / "router_vs_haproxy.py")]
            serve = [*me, "--serve", "backend", "--port", str(backend)]
            procs.append(plain.spawn(plain.LOAD_CPU, serve, backend))
            haproxy = ["/usr/sbin/haproxy", "-db", "-f"]
            procs.append(plain.spawn(plain.PROXY_CPU, [*haproxy, str(cfg1)], ha_https))
            ha1 = procs[-1].pid
            procs.append(plain.spawn("0,1", [*haproxy, str(cfg2)], ha2_https))
            ha2 = procs[-1].pid
            router = RemoteRouter(
                host="127.0.0.1", port=router_http, https_port=router_https, tls_cert=str(pem)
            )
            await router.start()
            target = Target("ws/bench/bench-00001", 100, (Backend("127.0.0.1", backend),))
            router.set_routes("bench", [Route(HOST, (target,))])
            await router.settled()
            assert router.pid is not None
            subprocess.run(["taskset", "-a", "-cp", plain.PROXY_CPU, str(router.pid)],
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            configs = [
                Config("router https", f"https://127.0.0.1:{router_https}/", router.pid),
                Config("haproxy https", f"https://127.0.0.1:{ha_https}/", ha1),
                Config("haproxy x2 https", f"https://127.0.0.1:{ha2_https}/", ha2),
                Config("router http", f"http://127.0.0.1:{router_http}/", router.pid),
                Config("haproxy http", f"http://127.0.0.1:{ha_http}/", ha1),
            ]
            for name, port in (("router", router_https), ("haproxy", ha_https)):
                print(f"{name}: {await asyncio.to_thread(resumes, port)}", flush=True)
            for cfg in configs:  # warm up: connections, pools, caches
                for case in CASES:
                    await wrk(cfg.url, case, duration=1, connections=args.connections)
            info = show_info(tmp / "ha1.sock")
            print(
                f"haproxy x1 after warm-up: {info.get('CumSslConns')} TLS connections; peak rates "
                f"{info.get('MaxSslRate')} TLS connections/s, {info.get('SslFrontendMaxKeyRate')} "
                "full handshakes/s",
                flush=True,
            )
            print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
            samples = await rounds(configs, args)
            print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
            report(samples, [c.name for c in configs])
        finally:
            if router is not None:
                await router.close()
            for proc in procs:
                proc.terminate()
                proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    asyncio.run(orchestrate(parser.parse_args()))


if __name__ == "__main__":
    main()
