"""Runtime logs: real replicas (sandboxed when bubblewrap is there) write their stdout and
stderr to per-app files on disk, which rotate within a bound and read back by cursor."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

from slipway.domain.ids import new_id
from slipway.ports import RevisionSpec
from slipway.runtime.local import LocalRuntime
from slipway.runtime.local.logs import AppLogFiles

CHATTY = textwrap.dedent(
    """
    import os, socket, sys, time
    print("out: starting on", os.environ["PORT"], flush=True)
    print("err: a warning", file=sys.stderr, flush=True)
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen()
    for i in range(5):
        print("out: tick", i, flush=True)
    time.sleep(600)
    """
)

WS, APP = new_id("ws"), new_id("app")


def spec(app_dir: Path, revision: str) -> RevisionSpec:
    return RevisionSpec(
        key=f"{WS}/{APP}/{revision}",
        workspace_id=WS,
        app_id=APP,
        revision=revision,
        app_dir=str(app_dir),
        start_command="python3 main.py",
        env={},
        health_check_path=None,
        app_serial=1,
    )


async def wait_for_lines(logs: AppLogFiles, count: int) -> list:
    for _ in range(600):
        lines = logs.read(WS, APP, since=0, limit=1000, revision=None)
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {lines}")


async def test_replica_output_is_captured_with_revision_replica_and_stream(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(CHATTY)
    logs = AppLogFiles(tmp_path / "logs")
    runtime = LocalRuntime(app_logs=logs)
    try:
        await runtime.scale(spec(app_dir, "web-00001"), 2)
        await runtime.wait_ready(f"{WS}/{APP}/web-00001", 2, timeout=60)
        lines = await wait_for_lines(logs, 14)
    finally:
        await runtime.close()
        logs.close()
    assert [entry.seq for entry in lines] == list(range(1, len(lines) + 1))
    assert {entry.revision for entry in lines} == {"web-00001"}
    replicas = {entry.replica for entry in lines}
    assert len(replicas) == 2 and all(r.startswith("web-00001-") for r in replicas)
    for replica in replicas:
        mine = [e for e in lines if e.replica == replica]
        assert [e.line for e in mine if e.stream == "stderr"] == ["err: a warning"]
        ticks = [e.line for e in mine if e.stream == "stdout" and "tick" in e.line]
        assert ticks == [f"out: tick {i}" for i in range(5)]
    # On disk, under the app's own directory, one JSON object a line.
    current = tmp_path / "logs" / WS / APP / "current.jsonl"
    records = [json.loads(line) for line in current.read_text().splitlines()]
    assert {"seq", "ts", "revision", "replica", "stream", "line"} <= set(records[0])


def test_rotation_bounds_the_disk_and_keeps_the_cursor(tmp_path: Path) -> None:
    logs = AppLogFiles(tmp_path, max_bytes=4096, keep=2)
    for i in range(2000):
        logs.write(
            workspace_id=WS,
            app_id=APP,
            revision="web-00001" if i % 2 else "web-00002",
            replica="r1",
            stream="stdout",
            line=f"line {i} " + "z" * 20,
        )
    directory = tmp_path / WS / APP
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["1.jsonl", "2.jsonl", "current.jsonl"]
    assert sum(p.stat().st_size for p in directory.iterdir()) <= 3 * 4096 + 200
    tail = logs.read(WS, APP, since=None, limit=10, revision=None)
    assert [e.line.split()[1] for e in tail] == [str(i) for i in range(1990, 2000)]
    assert [e.seq for e in tail] == list(range(1991, 2001))
    kept = logs.read(WS, APP, since=0, limit=100000, revision=None)
    oldest = kept[0].seq
    assert oldest > 1  # the oldest lines rotated away
    assert [e.seq for e in kept] == list(range(oldest, 2001))
    page = logs.read(WS, APP, since=1995, limit=3, revision=None)
    assert [e.seq for e in page] == [1995, 1996, 1997]
    only = logs.read(WS, APP, since=1990, limit=100, revision="web-00002")
    assert {e.revision for e in only} == {"web-00002"} and len(only) == 5
    logs.close()
    # A restarted platform continues the sequence.
    again = AppLogFiles(tmp_path, max_bytes=4096, keep=2)
    assert again.next_seq(WS, APP) == 2001
    again.write(
        workspace_id=WS, app_id=APP, revision="web-00001", replica="r", stream="stdout", line="x"
    )
    assert again.read(WS, APP, since=None, limit=1, revision=None)[0].seq == 2001
    again.close()


def test_ids_that_are_not_ours_never_become_paths(tmp_path: Path) -> None:
    logs = AppLogFiles(tmp_path / "logs")
    logs.write(
        workspace_id="../../etc", app_id=APP, revision="r", replica="r", stream="o", line="x"
    )
    assert not (tmp_path / "logs").exists()
    assert logs.read("../..", APP, since=None, limit=10, revision=None) == []
