"""One contract, every runtime: the local one (sandboxed processes on this machine) and the
Kubernetes one against the fake API server (`tests/support/fakekube.py`; no real cluster
is reachable from here). Each harness makes a revision that behaves as asked — answers,
crashes, is killed for its memory, never passes its health check — in its own way (a real
program locally; the fake cluster's simulated container there); the assertions are the same.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from tests.integration.runtime.conftest import running_cluster
from tests.support.fakekube import FakeCluster

from slipway.domain.errors import DeployFailed
from slipway.ports import RevisionSpec, Runtime
from slipway.runtime.kubernetes import KnativeRuntime, KubernetesRuntime
from slipway.runtime.local import LocalRuntime

SERVER = textwrap.dedent(
    """
    import os
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if self.path == "/health" else 404
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *args):
            pass

    print("listening on", os.environ["PORT"], flush=True)
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
    """
)
# Past any memory limit: 64 MiB at a time until killed.
HOG = "python3 -c 'import time\nb=[]\nwhile True: b.append(bytearray(64<<20)); time.sleep(0.01)'"
COMMANDS = {
    "ready": "python3 main.py",
    "never-ready": "python3 main.py",
    "crashloop": "echo 'boom: crashing on purpose'; exit 1",
    "oom": HOG,
}


class Harness(Protocol):
    runtime: Runtime

    def spec(self, behaviour: str, *, revision: str) -> RevisionSpec: ...


@dataclass
class LocalHarness:
    runtime: LocalRuntime
    app_dir: Path

    def spec(self, behaviour: str, *, revision: str) -> RevisionSpec:
        return _spec(
            behaviour, revision=revision, app_dir=str(self.app_dir),
            command=COMMANDS[behaviour], env={},
        )  # fmt: skip


@dataclass
class ClusterHarness:
    runtime: KubernetesRuntime
    cluster: FakeCluster
    env: dict[str, str] = field(default_factory=dict)

    def spec(self, behaviour: str, *, revision: str) -> RevisionSpec:
        return _spec(
            behaviour, revision=revision, app_dir="", command=COMMANDS[behaviour],
            env={"FAKEKUBE_BEHAVIOUR": behaviour},
        )  # fmt: skip


def _spec(
    behaviour: str, *, revision: str, app_dir: str, command: str, env: dict[str, str]
) -> RevisionSpec:
    return RevisionSpec(
        key=f"ws_contract/app_contract/{revision}",
        workspace_id="ws_contract",
        app_id="app_contract",
        revision=revision,
        app_dir=app_dir,
        start_command=command,
        env=env,
        health_check_path="/nope" if behaviour == "never-ready" else "/health",
        app_serial=7,
        memory_mb=64 if behaviour == "oom" else None,
        image_digest="sha256:" + "c" * 64,
        workspace_name="contract",
        app_name="web",
    )


@pytest.fixture(params=["local", "kubernetes", "knative"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "local":
        app_dir = tmp_path / "app"  # readable by the sandbox's uid (tmp_path is not)
        app_dir.mkdir()
        (app_dir / "main.py").write_text(SERVER)
        local = LocalRuntime()
        try:
            yield LocalHarness(local, app_dir)
        finally:
            await local.close()
        return
    async with running_cluster(request.param, tmp_path) as (cluster, runtime):
        yield ClusterHarness(runtime, cluster)


async def _eventually(check: object, timeout: float = 15.0) -> None:
    assert callable(check)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_replicas_become_ready_and_leave_when_scaled_down(harness: Harness) -> None:
    changes: list[str] = []
    harness.runtime.on_change(changes.append)
    spec = harness.spec("ready", revision="web-00001")
    await harness.runtime.scale(spec, 2)
    await harness.runtime.wait_ready(spec.key, 2, timeout=30)
    status = harness.runtime.status(spec.key)
    assert (status.ready, status.total, len(status.backends)) == (2, 2, 2)
    assert status.last_error is None and status.limits is not None
    assert spec.key in harness.runtime.running_keys()
    assert spec.key in changes
    await harness.runtime.scale(spec, 1)
    if isinstance(harness.runtime, KnativeRuntime):  # a revision keeps its bounds
        await asyncio.sleep(0.5)
        assert harness.runtime.status(spec.key).total == 2
        return
    await _eventually(lambda: harness.runtime.status(spec.key).total == 1)
    assert harness.runtime.status(spec.key).ready == 1


async def test_stop_leaves_nothing_running(harness: Harness) -> None:
    spec = harness.spec("ready", revision="web-00002")
    await harness.runtime.scale(spec, 1)
    await harness.runtime.wait_ready(spec.key, 1, timeout=30)
    await harness.runtime.stop(spec.key)
    await _eventually(lambda: harness.runtime.status(spec.key).total == 0)
    assert spec.key not in harness.runtime.running_keys()


async def test_a_crashing_app_fails_its_wait_with_the_reason(harness: Harness) -> None:
    spec = harness.spec("crashloop", revision="web-00003")
    await harness.runtime.scale(spec, 1)
    with pytest.raises(DeployFailed, match="status 1"):
        await harness.runtime.wait_ready(spec.key, 1, timeout=30)
    await _eventually(lambda: harness.runtime.status(spec.key).restarts >= 1)
    assert harness.runtime.status(spec.key).ready == 0


async def test_an_app_past_its_memory_is_oomkilled(harness: Harness) -> None:
    spec = harness.spec("oom", revision="web-00004")
    await harness.runtime.scale(spec, 1)
    with pytest.raises(DeployFailed):
        await harness.runtime.wait_ready(spec.key, 1, timeout=30)
    await _eventually(lambda: harness.runtime.status(spec.key).last_reason == "OOMKilled")


async def test_a_failing_health_check_times_out_naming_the_path(harness: Harness) -> None:
    spec = harness.spec("never-ready", revision="web-00005")
    await harness.runtime.scale(spec, 1)
    with pytest.raises(DeployFailed, match="/nope"):
        await harness.runtime.wait_ready(spec.key, 1, timeout=2)


async def test_run_once_reports_output_and_exit_status(harness: Harness) -> None:
    spec = harness.spec("ready", revision="web-00006")
    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)

    assert await harness.runtime.run_once(spec, "echo hello; exit 3", log=log, timeout=30) == 3
    assert any("hello" in line for line in lines)
    assert await harness.runtime.run_once(spec, "echo fine", log=log, timeout=30) == 0


async def test_run_once_past_its_timeout_fails(harness: Harness) -> None:
    spec = harness.spec("ready", revision="web-00007")
    if isinstance(harness, ClusterHarness):  # the fake's container runs no command
        spec = RevisionSpec(**{**spec.__dict__, "env": {"FAKEKUBE_BEHAVIOUR": "hang"}})

    async def log(line: str) -> None:
        pass

    with pytest.raises(DeployFailed, match="did not finish within 1 seconds"):
        await harness.runtime.run_once(spec, "sleep 30", log=log, timeout=1)
