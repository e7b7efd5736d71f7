"""The router in a process of its own (issue 11), driven from the control plane's process.

`slipway up` runs the API and the worker in one process and the data plane in another
(`router/child.py`), so a flood at the edge (file descriptors, CPU) cannot stop the API or
the worker. `RemoteRouter` implements the `Router` port in the control process: it starts
the child, talks to it over a private socket pair (one JSON object a line), and restarts it
if it dies, sending every app's routes again.

- `set_routes` / `remove_app` send at once and return (the port is synchronous); `settled()`
  waits until the child has applied everything sent so far, which `sync_routes` awaits, so
  Set Traffic still answers only once its routes are live.
- Every acknowledgement carries the child's in-flight counts, and the child sends them again
  whenever they change (at most every 20 ms): `in_flight` reads the latest. Once the routes
  without a revision are acknowledged, its count can only fall, so draining stays exact.
- Requests waiting for a cold revision make the child send `{"activate": key}`, handed to
  the `on_activate` callback; `refuse_held` sends the answer for a revision that could not
  start.
- `metrics()` asks the child for its Prometheus text (its own registry: router figures and
  its process), which `/metrics` appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from slipway.domain.routes import Backend, Route, Target

log = logging.getLogger(__name__)

READY_SECONDS = 15.0
REPLY_SECONDS = 5.0
RESTART_SECONDS = 1.0
MAX_LINE_BYTES = 64 << 20  # one control line: an app's routes, or the metrics text


def routes_to_wire(routes: Sequence[Route]) -> list[dict[str, Any]]:
    return [
        {
            "host": r.host,
            "targets": [
                {
                    "revision": t.revision,
                    "weight": t.weight,
                    "backends": [[b.host, b.port, b.netns] for b in t.backends],
                    "cold": t.cold,
                }
                for t in r.targets
            ],
            "certificate": r.certificate,
            "httpsOnly": r.https_only,
            "challenges": [list(c) for c in r.challenges],
        }
        for r in routes
    ]


def routes_from_wire(data: list[dict[str, Any]]) -> list[Route]:
    return [
        Route(
            str(r["host"]),
            tuple(
                Target(
                    str(t["revision"]),
                    int(t["weight"]),
                    tuple(Backend(str(h), int(p), str(n)) for h, p, n in t["backends"]),
                    cold=bool(t.get("cold", False)),
                )
                for t in r["targets"]
            ),
            certificate=str(r["certificate"]) if r.get("certificate") else None,
            https_only=bool(r.get("httpsOnly", False)),
            challenges=tuple((str(t), str(a)) for t, a in r.get("challenges", ())),
        )
        for r in data
    ]


class RouterChildFailed(RuntimeError):
    """The router process could not start (its port is taken, say); the message says why."""


class RemoteRouter:
    """Implements `slipway.ports.Router` by driving a router process."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        trusted: Sequence[str] = (),
        https_port: int | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.trusted = tuple(trusted)
        self.https_port = https_port
        self.tls = (tls_cert or "", tls_key or "")
        self.restarts = 0
        self._routes: dict[str, Sequence[Route]] = {}
        self._in_flight: dict[str, int] = {}
        self._load: dict[str, tuple[float, int]] = {}
        self._activate: Callable[[str], None] | None = None
        self._sent = 0  # the sequence number of the last message sent
        self._acked = 0
        self._acked_event = asyncio.Event()
        self._live = asyncio.Event()  # a router process is ready and has every route
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    # ------------------------------------------------------------------ Router

    def set_routes(self, app_id: str, routes: Sequence[Route]) -> None:
        self._routes[app_id] = routes
        self._send({"op": "set", "app": app_id, "routes": routes_to_wire(routes)})

    def remove_app(self, app_id: str) -> None:
        self._routes.pop(app_id, None)
        self._send({"op": "remove", "app": app_id})

    def in_flight(self, revision_key: str) -> int:
        return self._in_flight.get(revision_key, 0)

    def on_activate(self, callback: Callable[[str], None]) -> None:
        self._activate = callback

    def refuse_held(self, revision_key: str, reason: str, seconds: float) -> None:
        self._send({"op": "refuse", "revision": revision_key, "reason": reason, "seconds": seconds})

    def load(self) -> dict[str, tuple[float, int]]:
        """The latest counters the router process sent (every quarter of a second). A
        restarted router process starts from zero: the autoscaler ignores a reading that
        went back."""
        return dict(self._load)

    async def settled(self) -> None:
        """Until the router process applied every change sent so far: while it restarts,
        until the new one has every route (at most `REPLY_SECONDS`)."""
        wanted = self._sent  # a new process gets everything again under higher numbers
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REPLY_SECONDS):
                while not self._closing:
                    await self._live.wait()
                    if self._acked >= wanted:
                        return
                    self._acked_event.clear()
                    await self._acked_event.wait()

    async def metrics(self) -> bytes:
        if self._writer is None:
            return b""
        seq = self._send({"op": "metrics"})
        future = self._replies[seq] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(REPLY_SECONDS):
                reply = await future
        except TimeoutError:
            return b""
        finally:
            self._replies.pop(seq, None)
        return str(reply.get("metrics", "")).encode()

    @property
    def pid(self) -> int | None:
        """The router process's, while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the router process; RouterChildFailed when it cannot serve."""
        await self._spawn()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._stop_child()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "slipway.router.child",
                "--control-fd", str(theirs.fileno()), "--host", self.host,
                "--port", str(self.port), "--trusted", ",".join(self.trusted),
                *(() if self.https_port is None else ("--https-port", str(self.https_port))),
                "--tls-cert", self.tls[0], "--tls-key", self.tls[1],
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours, limit=MAX_LINE_BYTES)
        ready = asyncio.get_running_loop().create_future()
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, ready))
        try:
            async with asyncio.timeout(READY_SECONDS):
                hello = await ready
        except (TimeoutError, ConnectionError) as exc:
            await self._stop_child()
            raise RouterChildFailed("the router process did not start") from exc
        if "error" in hello:
            await self._stop_child()
            raise RouterChildFailed(str(hello["error"]))
        if "https_port" in hello:  # a restart listens on the same one
            self.https_port = int(hello["https_port"])
        # After a restart: every app's routes again. Sequence numbers go on from the old
        # process's, so `settled()` callers from before wait for these.
        for app_id, routes in self._routes.items():
            self._send({"op": "set", "app": app_id, "routes": routes_to_wire(routes)})
        self._live.set()

    async def _supervise(self) -> None:
        while True:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._closing:
                return
            log.error("the router process stopped (status %s); starting it again", code)
            await self._stop_child()
            while not self._closing:
                try:
                    await self._spawn()
                    self.restarts += 1
                    break
                except RouterChildFailed as exc:
                    log.error("the router process could not start again: %s", exc)
                    await asyncio.sleep(RESTART_SECONDS)

    async def _stop_child(self) -> None:
        self._live.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 10)  # it stops at the end of its socket
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
            self._reader_task = None
        self._in_flight = {}
        self._acked_event.set()

    # ------------------------------------------------------------------ the wire

    def _send(self, message: dict[str, Any]) -> int:
        self._sent += 1
        message["seq"] = self._sent
        if self._writer is not None:
            self._writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        return self._sent

    async def _read(
        self, reader: asyncio.StreamReader, ready: asyncio.Future[dict[str, Any]]
    ) -> None:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                log.error("the router process sent a line that is not JSON")
                continue
            if "ready" in message or "error" in message:
                if not ready.done():
                    ready.set_result(message)
                continue
            if "inflight" in message:
                self._in_flight = {str(k): int(v) for k, v in message["inflight"].items()}
            if "activate" in message and self._activate is not None:
                try:
                    self._activate(str(message["activate"]))
                except Exception:
                    log.exception("could not ask for a revision to be started")
            if "load" in message:
                self._load = {str(k): (float(v[0]), int(v[1])) for k, v in message["load"].items()}
            seq = message.get("ack")
            if isinstance(seq, int):
                self._acked = max(self._acked, seq)
                self._acked_event.set()
                reply = self._replies.get(seq)
                if reply is not None and not reply.done():
                    reply.set_result(message)
        if not ready.done():
            ready.set_exception(ConnectionError("the router process ended"))


def inherited_socket(fd: int) -> socket.socket:
    """The control socket the parent passed as `fd` (for the child)."""
    os.set_inheritable(fd, False)
    return socket.socket(fileno=fd)
