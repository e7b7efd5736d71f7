"""The router process: `python -m slipway.router.child --control-fd N --host H --port P`.

Started by `RemoteRouter` (`router/remote.py`), which holds the other end of the control
socket. It serves the data plane with a `RouterServer` of its own, applies the route changes
it reads (one JSON object a line), and answers each with an acknowledgement carrying the
in-flight counts at that moment; it also sends those counts whenever they change, at most
every `PUSH_SECONDS`, and `{"activate": key}` when requests wait for a cold revision. It
stops at the end of the control socket, so it never outlives the process that started it;
the terminal's Ctrl-C (SIGINT, sent to the whole process group) is ignored, because the
control process decides when the router stops (after the replicas).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import ssl
import sys
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from slipway.router.limits import EdgeLimits
from slipway.router.remote import MAX_LINE_BYTES, inherited_socket, routes_from_wire
from slipway.router.server import RouterServer, loop_factory
from slipway.router.tls import Certificates

log = logging.getLogger("slipway.router")

PUSH_SECONDS = 0.02
LOAD_SECONDS = 0.25  # the autoscaler samples every 0.5 s


class Child:
    def __init__(self, server: RouterServer, registry: CollectorRegistry) -> None:
        self.server = server
        self.registry = registry
        self.writer: asyncio.StreamWriter | None = None
        self.reported: dict[str, int] = {}

    def in_flight(self) -> dict[str, int]:
        return {k: s.in_flight for k, s in self.server.stats.items() if s.in_flight}

    def send(self, message: dict[str, Any]) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def apply(self, message: dict[str, Any]) -> None:
        seq = message.get("seq")
        reply: dict[str, Any] = {"ack": seq}
        try:
            op = message["op"]
            if op == "set":
                self.server.set_routes(str(message["app"]), routes_from_wire(message["routes"]))
            elif op == "remove":
                self.server.remove_app(str(message["app"]))
            elif op == "refuse":
                self.server.refuse_held(
                    str(message["revision"]), str(message["reason"]), float(message["seconds"])
                )
            elif op == "metrics":
                reply["metrics"] = generate_latest(self.registry).decode()
            else:
                raise ValueError(f"unknown operation {op!r}")
        except Exception as exc:  # a bad message must not stop the data plane
            log.exception("the router could not apply a control message")
            reply["error"] = str(exc)
        self.reported = reply["inflight"] = self.in_flight()
        self.send(reply)

    async def push(self) -> None:
        loop = asyncio.get_running_loop()
        load_at = loop.time()
        while True:
            await asyncio.sleep(PUSH_SECONDS)
            now = self.in_flight()
            if now != self.reported:
                self.reported = now
                self.send({"inflight": now})
            if loop.time() >= load_at:  # the autoscaler's input
                load_at = loop.time() + LOAD_SECONDS
                self.send({"load": {k: list(v) for k, v in self.server.load().items()}})


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    control = inherited_socket(args.control_fd)
    reader, writer = await asyncio.open_connection(sock=control, limit=MAX_LINE_BYTES)
    registry = CollectorRegistry()
    ProcessCollector(namespace="slipway_router", registry=registry)  # its CPU, memory, fds
    hello: dict[str, Any] = {"ready": True}
    try:
        certificates = Certificates(args.tls_cert or None, args.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        hello = {"error": f"the router cannot load the certificate {args.tls_cert}: {exc}"}
        certificates = Certificates()
    server = RouterServer(
        registry=registry,
        limits=EdgeLimits.from_env(),
        trusted=[a for a in args.trusted.split(",") if a],
        certificates=certificates,
    )
    child = Child(server, registry)
    child.writer = writer
    server.on_activate(lambda key: child.send({"activate": key}))
    host, port, https_port = args.host, args.port, args.https_port
    if "error" not in hello:
        try:
            await server.start(host, port, https_port=https_port)
        except OSError as exc:
            where = f"{port}" if https_port is None else f"{port} and {https_port}"
            hello = {"error": f"the router cannot listen on {host}:{where}: {exc.strerror}"}
        else:
            if https_port is not None:
                hello["https_port"] = server.https_port  # the one it got, when asked for 0
    if "error" in hello:
        child.send(hello)
        await writer.drain()
        await server.close()
        return 1
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    child.send(hello)
    pusher = loop.create_task(child.push())

    async def read() -> None:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                log.error("the router got a control line that is not JSON")
                continue
            child.apply(message)

    reading = loop.create_task(read())
    stopping = loop.create_task(stop.wait())
    try:
        await asyncio.wait([reading, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pusher, reading, stopping):
            task.cancel()
        await asyncio.gather(pusher, reading, stopping, return_exceptions=True)
        await server.close()
        with contextlib.suppress(Exception):
            writer.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slipway-router")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--trusted", default="", help="trusted proxies, comma-separated")
    parser.add_argument("--https-port", type=int, default=None)
    parser.add_argument("--tls-cert", default="", help="the default certificate (chain) file")
    parser.add_argument("--tls-key", default="", help="its key, unless in the same file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="router: %(levelname)s %(message)s")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
