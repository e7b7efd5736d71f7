"""LocalBuilder end to end: real checkouts, sandboxed commands, OCI layouts on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from builder_git_helpers import WORKSPACE, Repo, make_app, run_in_image
from tests.support import procs

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Commit, Image


class Lines:
    """A LogSink that remembers each line and when it arrived."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.times: list[float] = []
        self.seen = asyncio.Event()
        self.wanted = ""

    async def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.times.append(time.monotonic())
        if self.wanted and self.wanted == line:
            self.seen.set()


async def _fixture_app(
    make_repo: Callable[..., Repo], source: GitSource, fixture: str, **kwargs: object
) -> tuple[App, Commit]:
    repo = make_repo()
    repo.add_fixture(fixture)
    repo.commit(f"add {fixture}")
    app = make_app(repo.url, **kwargs)
    return app, await source.resolve(app, branch=None, sha=None)


def _check_layout(image: Image) -> None:
    hexd = image.digest.removeprefix("sha256:")
    layout = Path(image.path)
    manifest_blob = (layout / "blobs" / "sha256" / hexd).read_bytes()
    assert hashlib.sha256(manifest_blob).hexdigest() == hexd
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == image.digest
    manifest = json.loads(manifest_blob)
    for blob in [manifest["config"], *manifest["layers"]]:
        data = (layout / "blobs" / "sha256" / blob["digest"].removeprefix("sha256:")).read_bytes()
        assert len(data) == blob["size"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]
    assert image.ref == f"local/acme/web:sha256-{hexd[:12]}"
    assert image.app_dir == str(layout / "app")


async def test_python_plain(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder, tmp_path: Path
) -> None:
    app, commit = await _fixture_app(make_repo, source, "python-plain")
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    _check_layout(image)
    assert image.start_command == "python main.py"
    assert (Path(image.app_dir) / "main.py").is_file()
    assert log.lines == [
        f"[git] Checking out {commit.sha[:12]}",
        "[nixpacks] Detected Python project",
        "[nixpacks] Setup: python3, gcc",
        "[nixpacks] Build succeeded",
        f"[registry] Image stored on this host: {image.digest}",
    ]
    config_digest = json.loads(
        (Path(image.path) / "blobs" / "sha256" / image.digest[7:]).read_text()
    )["config"]["digest"]
    config = json.loads((Path(image.path) / "blobs/sha256" / config_digest[7:]).read_text())
    assert config["config"]["Cmd"] == ["sh", "-c", "python main.py"]
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == commit.sha
    found = await builder.find_image(image.digest)
    assert found is not None and found.ref == image.digest  # found by content, named by none
    assert dataclasses.replace(found, ref=image.ref) == image
    assert await builder.find_image("sha256:" + "0" * 64) is None
    assert list((tmp_path / "data" / "builds").iterdir()) == []

    again = Lines()
    assert await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=again) == image
    assert again.lines == [
        f"[nixpacks] Image for {commit.sha[:7]} already built: no phase runs",
        f"[registry] Image {image.ref} ({image.digest})",
    ]
    # A new start command, health check or run-time variable reuses the image too: the
    # revision carries the start command, the image keeps what the repository says.
    app.start_command, app.env = "python main.py --verbose", {"DATABASE_URL": "postgres://x"}
    changed = Lines()
    assert await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=changed) == image
    assert changed.lines == again.lines


async def test_node_plain_streams_build_output(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    app, commit = await _fixture_app(
        make_repo, source, "node-plain", env={"NPM_CONFIG_AUDIT": "false"}
    )
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    _check_layout(image)
    assert image.start_command == "npm run start"
    assert (Path(image.app_dir) / "dist.txt").read_text() == "hello from node-plain\n"
    at = log.lines.index
    assert at("[nixpacks] Detected Node.js project") < at("[nixpacks] Installing dependencies...")
    assert at("[nixpacks] Running build command: npm run build") < at("built dist.txt")
    assert at("built dist.txt") < at("[nixpacks] Build succeeded")


async def test_venv_is_valid_where_the_runtime_binds_it(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    app, commit = await _fixture_app(make_repo, source, "python-reqs")
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    assert image.start_command == "python app.py"
    out = await run_in_image(image.app_dir, ["python", "-c", "import sys; print(sys.prefix)"])
    assert out.strip() == "/app/.venv"


async def test_lines_arrive_as_written_and_log_limit(
    make_repo: Callable[..., Repo], source: GitSource, tmp_path: Path
) -> None:
    builder = LocalBuilder(tmp_path / "data", source, log_limit=4)
    cmd = "echo one; sleep 0.5; echo two >&2; seq 3 50"
    app, commit = await _fixture_app(make_repo, source, "procfile", build_command=cmd)
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    assert image.start_command == "sh serve.sh"
    first = log.lines.index("one")
    assert log.lines[first : first + 5] == [
        "one",
        "two",
        "3",
        "4",
        "[slipway] Log truncated after 4 lines.",
    ]
    assert log.times[first + 1] - log.times[first] > 0.3  # streamed, not collected at the end
    assert log.lines[-2] == "[nixpacks] Build succeeded"


async def test_failing_build(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder, tmp_path: Path
) -> None:
    cmd = 'echo "oops $SECRET"; exit 3'
    app, commit = await _fixture_app(
        make_repo, source, "python-plain", build_command=cmd, env={"SECRET": "hunter2"}
    )
    log = Lines()
    with pytest.raises(DeployFailed) as exc:
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    assert str(exc.value) == f"the build command `{cmd}` exited with status 3."
    assert "oops hunter2" in log.lines  # the log is kept; the error shows no values
    assert list((tmp_path / "data" / "builds").iterdir()) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README.md": "hi"}, "no provider detected"),
        ({"requirements.txt": ""}, "no start command"),
    ],
)
async def test_unbuildable_apps(
    make_repo: Callable[..., Repo],
    source: GitSource,
    builder: LocalBuilder,
    files: dict[str, str],
    message: str,
) -> None:
    repo = make_repo()
    repo.commit("x", files)
    app = make_app(repo.url)
    commit = await source.resolve(app, branch=None, sha=None)
    with pytest.raises(DeployFailed, match=message):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())


def _processes_with(marker: str) -> list[tuple[int, int]]:
    return [(p.pid, p.pgid) for p in procs.with_text(marker)]


async def _gone(marker: str, groups: set[int]) -> bool:
    """Whether every process with `marker` and every member of `groups` is gone (waits 2 s)."""
    for _ in range(20):
        alive = [p for p in procs.processes() if marker.encode() in p.cmdline or p.pgid in groups]
        if not alive:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_cancel_kills_the_whole_build(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    marker = "100.4242"
    app, commit = await _fixture_app(
        make_repo, source, "python-plain", build_command=f"echo started; sleep {marker}"
    )
    log = Lines()
    log.wanted = "started"
    task = asyncio.create_task(builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log))
    await asyncio.wait_for(log.seen.wait(), 20)
    procs = _processes_with(marker)
    assert len(procs) >= 2, procs  # bwrap and the sleep inside it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _gone(marker, {pgid for _, pgid in procs})


async def test_timeout(make_repo: Callable[..., Repo], source: GitSource, tmp_path: Path) -> None:
    builder = LocalBuilder(tmp_path / "data", source, timeout_seconds=1.5)
    marker = "100.4343"
    app, commit = await _fixture_app(
        make_repo, source, "python-plain", install_command=f"sleep {marker}"
    )
    started = time.monotonic()
    with pytest.raises(DeployFailed, match=r"exceeded its time limit of 1\.5 seconds"):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    assert time.monotonic() - started < 10
    assert await _gone(marker, set())
    assert list((tmp_path / "data" / "builds").iterdir()) == []


async def test_root_directory_build(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-plain", under="services/api")
    repo.commit("monorepo", {"README.md": "top"})
    app = make_app(repo.url, root_directory="services/api")
    commit = await source.resolve(app, branch=None, sha=None)
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    assert sorted(p.name for p in Path(image.app_dir).iterdir()) == ["main.py"]


async def test_a_build_past_its_output_limit_fails_clearly(
    make_repo: Callable[..., Repo], source: GitSource, tmp_path: Path
) -> None:
    """A build filled the host's disk (1 GiB and more): its tree and caches are capped."""
    builder = LocalBuilder(tmp_path / "data", source, output_limit=8 << 20)
    cmd = "head -c 64000000 /dev/zero > big.bin; sleep 3"
    app, commit = await _fixture_app(make_repo, source, "procfile", build_command=cmd)
    with pytest.raises(DeployFailed, match="output limit of 8 MiB"):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    assert not list((tmp_path / "data" / "builds").iterdir())  # the tree is gone
