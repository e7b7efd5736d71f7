"""One supervised replica: a sandboxed process, its captured output and its health.

`Replica.start()` launches a supervisor task that loops: spawn the start command in a sandbox
of its own (listening on `$PORT` in its own network namespace), probe its health every 20 ms
for its first seconds (a cold start waits on the first probe that passes), then every 150 ms
until it passes, then every few seconds; when the process exits it is restarted with
exponential backoff (1 s doubling to 30 s, reset once a run became healthy). The supervisor
catches everything but cancellation, so it never dies from an exception. Readiness changes
are reported through `on_ready_change`.

Out of memory: the kernel kills a process of the sandbox's cgroup that passes its memory
limit. The supervisor reads the cgroup's kill count at every probe and when the process
exits; a kill is written to the app's logs, and `last_reason` becomes `OOMKilled`
(Kubernetes' word), which Runtime Status shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from slipway.domain.redact import Redactor
from slipway.ports import RevisionSpec
from slipway.runtime.local import health, process
from slipway.sandbox import (
    APP_PORT,
    ROUTER_PORT_INSIDE,
    NetworkError,
    Sandboxed,
    SandboxError,
    SandboxHost,
)
from slipway.sandbox.netns import listening_ports

events = logging.getLogger("slipway.events")  # the platform's event log (services/platform)

LOG_LINES = 200
TAIL_LINES = 20  # of a failed start's output, in the deployment's error and log
WRONG_PORT_SECONDS = 5.0  # listening on other ports only, this long: the wrong port
FAST_PROBE_INTERVAL = 0.02  # right after the start: most apps listen within this window
FAST_PROBE_SECONDS = 3.0
OUTPUT_DRAIN_SECONDS = 1.0  # after it exited, for its last output (not for a child that keeps it)
STARTING_PROBE_INTERVAL = 0.15
READY_PROBE_INTERVAL = 3.0
FAILURES_BEFORE_UNREADY = 3
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0


def describe_exit(code: int) -> str:
    if code < 0:
        return f"the app was killed by signal {-code}"
    return f"the app exited with status {code}"


class Replica:
    def __init__(
        self,
        spec: RevisionSpec,
        *,
        sandbox: SandboxHost,
        on_ready_change: Callable[[], None],
        on_output: Callable[[str, str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.on_ready_change = on_ready_change
        self.on_output = on_output  # (stream, line) of every output line: runtime logs
        self.host = "127.0.0.1"  # inside the replica's own network namespace
        self.port = APP_PORT
        self.netns = ""  # the running sandbox's network namespace
        self.ready = False
        self.restarts = 0
        self.last_error: str | None = None
        self.start_error: str | None = None  # the latest run exited before becoming healthy
        self.last_probe: str | None = None  # why the latest probe failed
        self.last_reason: str | None = None  # "OOMKilled" after an out-of-memory kill
        self.oom_kills = 0  # over every run
        self._run_oom_kills = 0  # in the current run's sandbox
        self.logs: deque[str] = deque(maxlen=LOG_LINES)
        self._run_tail: deque[str] = deque(maxlen=TAIL_LINES)  # the current run's last lines
        self._redact = Redactor.for_env(spec.env)  # no env value reaches a log
        self.box: Sandboxed | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"replica {self.spec.key}")

    def mark_unready(self) -> None:
        """Stop taking new requests (the first step of a stop); no restart will follow."""
        self._stopping = True
        self._set_ready(False)

    @property
    def pid(self) -> int | None:
        """The sandbox's outer process id while it runs."""
        box = self.box
        return box.pid if box is not None and box.proc.returncode is None else None

    async def stop(self) -> None:
        """Terminate the process tree (SIGTERM, then SIGKILL) and end the supervisor."""
        self.mark_unready()
        box = self.box
        if box is not None:
            await process.terminate(box)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ------------------------------------------------------------------ supervisor

    async def _supervise(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping:
            try:
                became_ready = await self._run_once()
            except asyncio.CancelledError:
                raise
            except (SandboxError, NetworkError) as exc:  # our own sentences, no secret
                became_ready = False
                self._record_failure(f"the replica could not be started: {exc}")
            except Exception as exc:  # the supervisor must survive anything
                became_ready = False
                self._record_failure(f"the replica could not be started ({type(exc).__name__})")
            if self._stopping:
                return
            if became_ready:
                backoff = BACKOFF_START
            self._ended(backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            self.restarts += 1

    def _ended(self, backoff: float) -> None:
        """A run ended on its own: the operator's event log says so (`slipway.events`)."""
        spec = self.spec
        reason = self.last_reason or "Error"
        events.info(
            "replica of %s (workspace %s) ended: %s; restarting in %gs",
            spec.revision,
            spec.workspace_id,
            self.last_error or "it exited",
            backoff,
            extra={"event": {"kind": "replica_ended", "revision": spec.revision,
                             "app": spec.app_id, "workspace": spec.workspace_id,
                             "reason": reason, "restarts": self.restarts}},
        )  # fmt: skip

    def _record_failure(self, message: str) -> None:
        self.last_error = message
        self.start_error = message
        self._set_ready(False)

    async def _run_once(self) -> bool:
        """Run the process once; returns whether it became healthy before it exited."""
        self.start_error = None
        self._run_oom_kills = 0
        self._run_tail.clear()
        readers: list[asyncio.Task[None]] = []
        box: Sandboxed | None = None
        try:
            box = self.box = await self._spawn()
            self.netns = box.netns
            proc = box.proc
            readers = [
                asyncio.create_task(self._read_lines(stream, name))
                for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
                if stream is not None
            ]
            became_ready = await self._watch(box)
            code = await proc.wait()
            if readers:  # its last lines may still be in the pipes, and say why it ended:
                # read them before the failure is set (`wait_ready` polls for it)
                await asyncio.wait(readers, timeout=OUTPUT_DRAIN_SECONDS)
            self._count_oom(box)
            if not self._stopping:
                message = self._describe(code)
                if not became_ready:
                    message += " before becoming healthy"
                    self.start_error = message
                self.last_error = message
            return became_ready
        finally:
            self._set_ready(False)
            if box is not None:
                await process.kill(box)
            for reader in readers:
                reader.cancel()

    async def _spawn(self) -> Sandboxed:
        spec = self.spec
        return await process.spawn_app(
            self.sandbox,
            spec,
            spec.start_command,
            env={**spec.env, "PORT": str(self.port)},
            merge_stderr=False,
        )

    def _describe(self, code: int) -> str:
        """The sentence for how this run ended; sets `last_reason`."""
        limit = process.limits_for(self.spec).memory_mb
        if self._run_oom_kills:
            self.last_reason = "OOMKilled"
            if code in (-9, 137):
                return f"the app was killed for using more than its {limit} MiB of memory"
            return f"{describe_exit(code)} after a process of it was OOMKilled ({limit} MiB)"
        self.last_reason = "Error" if code != 0 else None
        return describe_exit(code)

    def _count_oom(self, box: Sandboxed) -> None:
        """Note (and log) processes of this run's sandbox the kernel killed for memory."""
        kills = box.oom_kills()
        if kills <= self._run_oom_kills:
            return
        self.oom_kills += kills - self._run_oom_kills
        self._run_oom_kills = kills
        self.last_reason = "OOMKilled"
        limit = process.limits_for(self.spec).memory_mb
        self._output("stderr", f"[slipway] OOMKilled: a process passed the {limit} MiB limit")

    async def _watch(self, box: Sandboxed) -> bool:
        """Probe until the process exits; returns whether it ever passed."""
        exited = asyncio.ensure_future(box.proc.wait())
        passed = False
        failures = 0
        wrong_port = _WrongPort(self)
        loop = asyncio.get_running_loop()
        fast_until = loop.time() + FAST_PROBE_SECONDS
        try:
            while True:
                if self.ready:
                    interval = READY_PROBE_INTERVAL
                elif loop.time() < fast_until:
                    interval = FAST_PROBE_INTERVAL
                else:
                    interval = STARTING_PROBE_INTERVAL
                done, _ = await asyncio.wait({exited}, timeout=interval)
                if done or self._stopping:
                    return passed
                self._count_oom(box)
                self.last_probe = await health.probe(
                    self.host, self.port, self.spec.health_check_path, netns=box.netns
                )
                if self.last_probe is None:
                    passed, failures = True, 0
                    self._set_ready(True)
                else:
                    failures += 1
                    if failures >= FAILURES_BEFORE_UNREADY:
                        self._set_ready(False)
                    if not passed:
                        await wrong_port.check(box.netns)
        finally:
            exited.cancel()

    async def _read_lines(self, stream: asyncio.StreamReader, name: str) -> None:
        carry = b""
        with contextlib.suppress(Exception):
            while chunk := await stream.read(65536):
                *lines, carry = (carry + chunk).split(b"\n")
                for line in lines:
                    self._output(name, line.decode("utf-8", "replace").rstrip("\r"))
                if len(carry) > 65536:
                    self._output(name, carry.decode("utf-8", "replace"))
                    carry = b""
            if carry:
                self._output(name, carry.decode("utf-8", "replace"))

    def failure(self) -> str:
        """Why the latest run could not start, with its last lines of output (redacted)."""
        sentence = self.start_error or self.last_error or "the app did not start"
        if not self._run_tail:
            return f"{sentence}; it printed nothing."
        lines = "\n".join(line[:500] for line in self._run_tail)
        return f"{sentence}. Its last {len(self._run_tail)} lines of output:\n{lines}"

    def _output(self, stream: str, line: str) -> None:
        line = self._redact(line)
        self.logs.append(line)
        self._run_tail.append(line)
        if self.on_output is not None:
            with contextlib.suppress(Exception):  # a full disk must not stop the reader
                self.on_output(stream, line)

    def _set_ready(self, ready: bool) -> None:
        if ready and self._stopping:
            return
        if ready != self.ready:
            self.ready = ready
            with contextlib.suppress(Exception):
                self.on_ready_change()


class _WrongPort:
    """Tells a replica that listens, but not on `$PORT`, from one still starting: once it has
    listened only on other ports for `WRONG_PORT_SECONDS`, its start fails saying so."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.since: float | None = None
        self.checked = 0.0

    async def check(self, netns: str) -> None:
        loop = asyncio.get_running_loop()
        if not netns or loop.time() - self.checked < 1.0:
            return
        self.checked = loop.time()
        try:
            ports = await asyncio.to_thread(listening_ports, netns)
        except OSError:
            return
        ports.discard(ROUTER_PORT_INSIDE)  # pasta's way to the router, not the app's
        expected = self.replica.port
        if not ports or expected in ports:
            self.since = None
            return
        self.since = self.since or loop.time()
        if loop.time() - self.since >= WRONG_PORT_SECONDS:
            shown = ", ".join(str(p) for p in sorted(ports)[:5])
            self.replica.start_error = (
                f"the app listens on port {shown}, not on $PORT={expected}: make it listen "
                "on the port the PORT environment variable names"
            )
