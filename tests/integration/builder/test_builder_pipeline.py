"""The builder's phases end to end: setup checks, sandbox isolation, dependency reuse, push.

Real git repositories, real bubblewrap sandboxes, a real `docker-registry` on loopback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from builder_git_helpers import WORKSPACE, Repo, make_app, run_in_image
from registry_server import running_registry

from slipway.builder import registry, toolchains
from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.errors import DeployFailed


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


async def _build(builder: LocalBuilder, source: GitSource, repo: Repo, **kwargs: object):
    app = make_app(repo.url, **kwargs)
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    return image, log.lines


async def test_build_cannot_read_the_data_directory(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder, tmp_path: Path
) -> None:
    planted = tmp_path / "data" / "planted-secret.txt"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("TOP-SECRET-42\n")
    repo = make_repo()
    repo.add_fixture("python-plain")
    repo.commit("x")
    cmd = f"cat {planted} || ls {planted.parent} || echo not-visible"
    image, lines = await _build(builder, source, repo, build_command=cmd)
    assert "TOP-SECRET-42" not in "\n".join(lines)
    assert "not-visible" in lines
    assert image.start_command == "python main.py"


async def test_missing_toolchain_fails_the_setup_phase(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    candidates = {"go-mod": "go", "deno": "deno", "ruby-rack": "ruby", "rust-bin": "rustc"}
    absent = [(app, pkg) for app, pkg in candidates.items() if toolchains.missing([pkg])]
    assert absent, "this machine has every toolchain: pick another fixture"
    fixture, package = absent[0]
    repo = make_repo()
    repo.add_fixture(fixture)
    repo.commit("x")
    with pytest.raises(DeployFailed, match=rf"this host has no toolchain for {package}") as exc:
        await _build(builder, source, repo)
    assert str(exc.value).count(".") <= 2  # one sentence


async def test_cached_rebuild_skips_the_install(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-reqs")
    repo.commit("first")
    first, cold = await _build(builder, source, repo)
    assert any(line.startswith("[nixpacks] Running install command:") for line in cold)

    repo.commit("code only", {"app.py": (Path(first.app_dir) / "app.py").read_text() + "\n# x\n"})
    second, warm = await _build(builder, source, repo)
    assert second.digest != first.digest
    assert "[nixpacks] Reusing installed dependencies (requirements.txt unchanged)" in warm
    assert not any(line.startswith("[nixpacks] Running install command:") for line in warm)
    out = await run_in_image(second.app_dir, ["python", "-c", "import sys; print(sys.prefix)"])
    assert out.strip() == "/app/.venv"

    repo.commit("new requirement", {"requirements.txt": "# changed\n"})
    _, changed = await _build(builder, source, repo)
    assert any(line.startswith("[nixpacks] Running install command:") for line in changed)


async def test_cache_directory_survives_between_builds(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-plain")
    repo.commit("x")
    cmd = "ls node_modules/.cache; echo again > node_modules/.cache/mark-$(date +%s%N)"
    env = {"NIXPACKS_BUILD_CACHE_DIRS": "node_modules/.cache"}
    _, first = await _build(
        builder, source, repo, build_command=cmd, env={**env, "NODE_OPTIONS": "--no-warnings"}
    )
    _, second = await _build(
        builder, source, repo, build_command=cmd, env={**env, "NODE_OPTIONS": ""}
    )
    assert not any(line.startswith("mark-") for line in first)
    assert any(line.startswith("mark-") for line in second)


async def test_long_line_is_cut_and_the_log_kept(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-plain")
    repo.commit("x")
    cmd = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after; exit 4"
    app = make_app(repo.url, build_command=cmd)
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    with pytest.raises(DeployFailed, match="exited with status 4"):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    assert "x" * 4096 in log.lines and "after" in log.lines
    assert max(len(line) for line in log.lines) <= 4096


async def test_a_runaway_line_fails_the_build_and_keeps_the_log(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-plain")
    repo.commit("x")
    cmd = "echo before; head -c 2097152 /dev/zero | tr '\\0' x; echo; echo never"
    app = make_app(repo.url, build_command=cmd)
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    with pytest.raises(DeployFailed, match="single line longer than 1 MiB"):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    assert "before" in log.lines and "never" not in log.lines


async def test_push_to_a_real_registry_and_read_it_back(
    make_repo: Callable[..., Repo], source: GitSource, tmp_path: Path
) -> None:
    with running_registry(tmp_path / "registry") as host:
        builder = LocalBuilder(tmp_path / "data", source, timeout_seconds=120, push_to=host)
        repo = make_repo()
        repo.add_fixture("python-plain")
        repo.commit("x")
        image, lines = await _build(builder, source, repo)
        hexd = image.digest.removeprefix("sha256:")
        assert image.ref == f"{host}/acme/web:sha256-{hexd[:12]}"
        assert f"[registry] Pushing {image.ref}" in lines
        assert lines[-1] == f"[registry] Push complete: {image.digest}"
        target = registry.Registry.parse(host)
        digest, body = registry.pull_manifest(target, name="acme/web", reference=image.digest)
        assert digest == image.digest == "sha256:" + hashlib.sha256(body).hexdigest()
        by_tag, _ = registry.pull_manifest(target, name="acme/web", reference=f"sha256-{hexd[:12]}")
        assert by_tag == image.digest
        layer = json.loads(body)["layers"][0]["digest"]
        local = Path(image.path) / "blobs" / "sha256" / layer.removeprefix("sha256:")
        pulled = httpx.get(f"http://{host}/v2/acme/web/blobs/{layer}", timeout=30)
        assert pulled.content == local.read_bytes()
