"""LocalRuntime's rollout hooks against real sandboxed processes: the release command
(`run_once`) and the drain gate a scale-down waits for before it stops replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.integration.runtime.test_local_runtime import SERVER, alive, make_spec

from slipway.domain.errors import DeployFailed
from slipway.runtime.local import LocalRuntime


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    d = tmp_path / "app"
    d.mkdir()
    (d / "main.py").write_text(SERVER)
    (d / "migrate.py").write_text(
        "import os, sys\n"
        "print('migrating', os.environ['DB'], 'in', os.getcwd())\n"
        "print('to stderr', file=sys.stderr)\n"
        "open('/tmp/ok', 'w').write('x')\n"
        "try:\n"
        "    open('/app/written', 'w')\n"
        "except OSError:\n"
        "    print('app is read-only')\n"
        "sys.exit(int(os.environ.get('CODE', '0')))\n"
    )
    return d


async def test_release_command_runs_once_in_the_sandbox_with_the_env(
    runtime: LocalRuntime, app_dir: Path
) -> None:
    spec = make_spec(app_dir, env={"DB": "postgres://db"})
    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)

    code = await runtime.run_once(spec, "python3 migrate.py", log=log, timeout=30)
    assert code == 0
    assert "migrating postgres://db in /app" in lines
    assert "to stderr" in lines
    assert "app is read-only" in lines
    assert not (app_dir / "written").exists()
    assert runtime.status(spec.key).total == 0  # no replica was started


async def test_release_command_exit_status_and_timeout(
    runtime: LocalRuntime, app_dir: Path
) -> None:
    spec = make_spec(app_dir, env={"DB": "x", "CODE": "4"})

    async def log(line: str) -> None:
        pass

    assert await runtime.run_once(spec, "python3 migrate.py", log=log, timeout=30) == 4
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeployFailed, match="did not finish within 1 seconds"):
        await runtime.run_once(spec, "sleep 30", log=log, timeout=1)
    assert loop.time() - started < 10


async def test_scale_down_waits_for_the_drain_gate_before_stopping(
    runtime: LocalRuntime, app_dir: Path
) -> None:
    spec = make_spec(app_dir)
    gate_open = asyncio.Event()
    seen: list[tuple[str, int, int]] = []

    async def gate(key: str) -> None:
        status = runtime.status(key)
        seen.append((key, status.ready, status.total))
        await gate_open.wait()

    runtime.set_drain_gate(gate)
    await runtime.scale(spec, 2)
    await runtime.wait_ready(spec.key, 2, timeout=20)
    pids = set(runtime.pids(spec.key))
    await runtime.scale(spec, 1)
    await asyncio.sleep(0.3)
    assert seen == [(spec.key, 1, 1)]  # the victim is out of the ready set already
    (victim,) = pids - set(runtime.pids(spec.key))
    assert alive(victim)  # but still running while the gate is closed
    gate_open.set()
    for _ in range(200):
        if not alive(victim):
            break
        await asyncio.sleep(0.05)
    assert not alive(victim)
    assert runtime.status(spec.key).ready == 1
