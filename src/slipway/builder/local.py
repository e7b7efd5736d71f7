"""The local builder: checkout, plan, install and build in the sandbox, package as OCI.

One build works in `data_dir/builds/<random>/app`, which the sandbox shows as `/app` (so
absolute paths the build writes, like a venv's, stay valid where the runtime binds the
image's app tree at `/app`). Everything that touches the tenant's tree runs in a sandbox as
the app's own uid (`slipway.sandbox`): the checkout itself (`git archive` on the host streams
the commit into `untar.py` in a sandbox without network, which refuses unsafe trees), and
each install and build command, the user's own string run as `sh -c <cmd>` in a sandbox with
outbound network; the host never runs a shell. Output is forwarded line by line as it is
written, up to `log_limit` lines. Builds get `BUILD_LIMITS` (memory, processes, CPU), and the
tree plus the app's caches may hold at most `output_limit` bytes: a watcher measures them
every few seconds while a command runs, and stops the build past it.

The phases, as nixpacks runs them: setup (the plan's toolchains at the versions the app
asks for, from the host or the toolchain store, see `toolchains`), install (skipped when
`caching` holds the dependencies installed for the same lockfile), build, then packaging.
Each phase's cache directories are per-app directories bound into the sandbox (see
`caching`).

The whole build runs under one time limit. Cancelling the calling task or running out of time
kills the command's whole process group (see `proc`). The build directory is removed on
every exit path. Images land in `data_dir/images/<manifest hex>/` (see `oci`), and are
pushed to `SLIPWAY_REGISTRY` when one is set (see `registry`); the same commit with the same
settings reuses its image without running any phase (`images/keys/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.builder import oci, proc, toolchains
from slipway.builder import registry as registry_mod
from slipway.builder.assets import write_assets
from slipway.builder.caching import Caches, cache_env, disk_usage, make_mount_points, top_level
from slipway.builder.plan import provider_title, repository_plan, with_start
from slipway.builder.source import GitSource
from slipway.builder.toolchains import LABEL, Selection, ToolchainStore
from slipway.builder.versions import read_requests
from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Commit, Image, Workspace
from slipway.ports import LogSink
from slipway.sandbox import (
    BUILD_LIMITS,
    Jail,
    NetworkError,
    Sandboxed,
    SandboxError,
    SandboxHost,
    toolchain_path,
)

GIB = 1024**3
OUTPUT_LIMIT = 4 * GIB
WATCH_SECONDS = 2.0
UNTAR = (Path(__file__).parent / "untar.py").read_bytes()
UNTAR_PATH = "/slipway/untar.py"
# Tools that ship their own CA list (Node, pip's certifi, requests) are pointed at the host's
# bundle, which the sandbox shows at the same path: builds trust what the host trusts.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_VARIABLES = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")


class CappedLog:
    """Forwards lines to the sink; command output stops after `limit` lines."""

    def __init__(self, sink: LogSink, limit: int) -> None:
        self._sink = sink
        self._limit = limit
        self._count = 0

    async def announce(self, line: str) -> None:
        await self._sink(line)

    async def output(self, line: str) -> None:
        self._count += 1
        if self._count <= self._limit:
            await self._sink(line)
        elif self._count == self._limit + 1:
            await self._sink(f"[slipway] Log truncated after {self._limit} lines.")


class LocalBuilder:
    """Implements `slipway.ports.Builder` on this machine."""

    def __init__(
        self,
        data_dir: Path,
        source: GitSource,
        *,
        sandbox: SandboxHost | None = None,
        registry: str = "local",
        timeout_seconds: float = 900,
        log_limit: int = 10000,
        push_to: str | None = None,
        output_limit: int = OUTPUT_LIMIT,
        toolchains: ToolchainStore | None = None,
    ) -> None:
        """`push_to`: the OCI registry to push to; `SLIPWAY_REGISTRY` when not given.
        `toolchains`: the toolchain store (`data_dir/toolchains/` when not given)."""
        self.data_dir = data_dir
        self.source = source
        self.sandbox = sandbox or SandboxHost()
        self.output_limit = output_limit
        self.toolchains = toolchains or ToolchainStore(data_dir / "toolchains")
        self.registry = registry
        self.timeout_seconds = timeout_seconds
        self.log_limit = log_limit
        self.images_dir = data_dir / "images"
        target = push_to if push_to is not None else os.environ.get("SLIPWAY_REGISTRY", "")
        self.push_to = registry_mod.Registry.parse(target) if target.strip() else None

    async def find_image(self, digest: str) -> Image | None:
        hexd = oci.digest_hex(digest)
        return oci.load(self.images_dir / hexd) if hexd else None

    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        key = build_key(app, commit, pushed_to=self.push_to.host if self.push_to else "")
        reused = await self._reuse(key, self._ref_prefix(workspace, app))
        if reused is not None:
            await log(f"[nixpacks] Image for {commit.sha[:7]} already built: no phase runs")
            await log(f"[registry] Image {reused.ref} ({reused.digest})")
            return reused
        build_dir = self.data_dir / "builds" / secrets.token_hex(8)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                blog = CappedLog(log, self.log_limit)
                image = await self._build(build_dir, workspace, app, commit, blog)
        except TimeoutError:
            raise DeployFailed(
                f"the build exceeded its time limit of {self.timeout_seconds:g} seconds."
            ) from None
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, build_dir, True))
        self._remember(key, image)
        return image

    # ------------------------------------------------------------------ steps

    async def _build(
        self, build_dir: Path, workspace: Workspace, app: App, commit: Commit, log: CappedLog
    ) -> Image:
        app_dir = build_dir / "app"
        await log.announce(f"[git] Checking out {commit.sha[:12]}")
        await self.checkout(app, commit.sha, app_dir)
        own, plan = await make_plan(app_dir, app, log.announce)
        # The image starts what the repository says; the app's startCommand is the revision's
        # (so changing only it reuses this image), "" when only the app's setting names one.
        start = own["start"]["cmd"] or ""
        tools = await self._setup(plan, log, app_dir, app)
        await self._run_phases(app, app_dir, plan, log, tools)
        await self._check_output(app, app_dir)
        await asyncio.to_thread(write_assets, app_dir, plan.get("staticAssets", {}))
        await log.announce("[nixpacks] Build succeeded")
        spec = self._spec(workspace, app, commit, plan, start, tools)
        image = await asyncio.to_thread(oci.package, self.images_dir, app_dir, spec)
        if self.push_to is None:
            await log.announce(f"[registry] Image stored on this host: {image.digest}")
            return image
        await log.announce("[registry] Pushing image to registry...")
        await self._push(image, workspace, app, log)
        await log.announce(f"[registry] Push complete: {image.digest}")
        return image

    async def checkout(self, app: App, sha: str, app_dir: Path) -> None:
        """The commit's tree unpacked into `app_dir` (see `checkout`)."""
        await checkout(self.sandbox, self.source, app, sha, app_dir)

    async def _start(self, argv: list[str], jail: Jail, **kwargs: Any) -> Sandboxed:
        return await start_sandboxed(self.sandbox, argv, jail, **kwargs)

    async def _check_output(self, app: App, app_dir: Path) -> None:
        used = await asyncio.to_thread(disk_usage, [app_dir, self._cache_root(app)])
        if used > self.output_limit:
            raise DeployFailed(self._too_big())

    def _too_big(self) -> str:
        limit = self.output_limit
        size = f"{limit / GIB:g} GiB" if limit >= GIB else f"{limit / 2**20:g} MiB"
        return f"the build wrote more than its output limit of {size} (its files and caches)."

    async def _setup(
        self, plan: dict[str, Any], log: CappedLog, app_dir: Path, app: App
    ) -> toolchains.Selection:
        """The toolchains of the plan's nixPkgs, at the versions the app asks for (see
        `toolchains`, `versions`): chosen, provisioned when needed, logged."""
        packages: list[str] = plan["phases"]["setup"]["nixPkgs"]
        if packages:
            await log.announce(f"[nixpacks] Setup: {', '.join(packages)}")
        requests = await asyncio.to_thread(read_requests, app_dir, app.env)
        try:
            tools = await self.toolchains.select(packages, requests, announce=log.announce)
        except DeployFailed as exc:
            await log.announce(f"[nixpacks] Setup failed: {exc}")
            raise
        for line in tools.log_lines():
            await log.announce(line)
        return tools

    async def _push(self, image: Image, workspace: Workspace, app: App, log: CappedLog) -> None:
        assert self.push_to is not None
        name, tag = f"{workspace.name}/{app.name}", image.ref.rsplit(":", 1)[1]
        await log.announce(f"[registry] Pushing {self.push_to.host}/{name}:{tag}")
        await asyncio.to_thread(
            registry_mod.push, self.push_to, Path(image.path), name=name, tag=tag
        )

    async def _run_phases(
        self,
        app: App,
        app_dir: Path,
        plan: dict[str, Any],
        log: CappedLog,
        tools: Selection | None = None,
    ) -> None:
        tools = tools or Selection()
        phases = plan["phases"]
        all_dirs = [*phases["install"].get("cacheDirectories", [])]
        all_dirs += phases["build"].get("cacheDirectories", [])
        caches = Caches(self._cache_root(app), uid=self.sandbox.uid_for(app.serial))
        env = self._build_env(app, plan, all_dirs, tools)
        install: list[str] = phases["install"]["cmds"]
        if install:
            await log.announce("[nixpacks] Installing dependencies...")
        reuse_key = self._reuse_key(caches, app, app_dir, plan)
        if reuse_key is not None and tools.label:  # installed with other toolchains: redo
            reuse_key = hashlib.sha256(f"{reuse_key}:{tools.label}".encode()).hexdigest()
        restored: list[str] | None = None
        if reuse_key is not None:
            restored = await asyncio.to_thread(caches.restore, reuse_key, app_dir)
        if restored is not None:
            inputs = ", ".join(phases["install"]["onlyIncludeFiles"]) or "no files"
            await log.announce(f"[nixpacks] Reusing installed dependencies ({inputs} unchanged)")
            install = []
        before = top_level(app_dir)
        binds = caches.binds(phases["install"], all_dirs)
        for cmd in install:
            await log.announce(f"[nixpacks] Running install command: {cmd}")
            await self._run(app, cmd, "install", app_dir, env, binds, log, tools.ro_binds())
        if install and reuse_key:
            created = sorted(top_level(app_dir) - before)
            await asyncio.to_thread(caches.save, reuse_key, app_dir, created)
        binds = caches.binds(phases["build"], all_dirs)
        for cmd in phases["build"]["cmds"]:
            await log.announce(f"[nixpacks] Running build command: {cmd}")
            await self._run(app, cmd, "build", app_dir, env, binds, log, tools.ro_binds())

    @staticmethod
    def _reuse_key(caches: Caches, app: App, app_dir: Path, plan: dict[str, Any]) -> str | None:
        install = plan["phases"]["install"]
        if "onlyIncludeFiles" not in install or not install["cmds"]:
            return None
        if app.env.get("NIXPACKS_NO_CACHE", "") in {"1", "true"}:
            return None
        return caches.install_key(app_dir, plan, app.env)

    async def _run(
        self,
        app: App,
        cmd: str,
        phase: str,
        app_dir: Path,
        env: dict[str, str],
        binds: dict[str, Path],
        log: CappedLog,
        ro_binds: Mapping[str, Path] | None = None,
    ) -> None:
        uid = self.sandbox.uid_for(app.serial)
        await asyncio.to_thread(make_mount_points, app_dir, binds, uid)
        jail = Jail(uid=uid, app_dir=app_dir, env=env, limits=BUILD_LIMITS,
                    app_writable=True, binds=binds, ro_binds=ro_binds or {})  # fmt: skip
        box = await self._start(["sh", "-c", cmd], jail, stderr=asyncio.subprocess.STDOUT)
        watch = asyncio.ensure_future(self._watch_output(box, [app_dir, self._cache_root(app)]))
        try:
            assert box.proc.stdout is not None
            await proc.read_lines(box.proc.stdout, log.output)
            status = await box.proc.wait()
        except proc.LineTooLong:
            raise DeployFailed(
                f"the {phase} command printed a single line longer than 1 MiB, "
                "which looks like a runaway command."
            ) from None
        finally:
            watch.cancel()
            box.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(box.proc.wait())
            await box.release()
        if watch.done() and not watch.cancelled() and watch.result():
            raise DeployFailed(self._too_big())
        oom = f"OOMKilled: the build's memory limit is {BUILD_LIMITS.memory_mb} MiB"
        if box.oom_kills() and status != 0:
            raise DeployFailed(f"the {phase} command ran out of memory ({oom}).")
        if box.oom_kills():
            await log.announce(f"[slipway] A process of the {phase} command was {oom}.")
        if status != 0:
            raise DeployFailed(f"the {phase} command `{cmd}` exited with status {status}.")

    async def _watch_output(self, box: Sandboxed, paths: list[Path]) -> bool:
        """Stop the sandbox (and return True) once `paths` hold more than the output limit."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if await asyncio.to_thread(disk_usage, paths) > self.output_limit:
                box.kill()
                return True

    # ------------------------------------------------------------------ settings

    def _build_env(
        self,
        app: App,
        plan: dict[str, Any],
        cache_dirs: list[str],
        tools: Selection | None = None,
    ) -> dict[str, str]:
        env = {"npm_config_update_notifier": "false", "npm_config_fund": "false"}
        if Path(SYSTEM_CA_BUNDLE).is_file():  # the host's CAs (a proxy's too), bound at /etc/ssl
            env.update(dict.fromkeys(CA_VARIABLES, SYSTEM_CA_BUNDLE))
        env.update(plan["variables"])
        env.update(tools.env(build=True) if tools is not None else {})
        env.update({k: v for k, v in app.env.items() if k != "PORT"})
        env.update(cache_env(cache_dirs))
        env["HOME"] = "/tmp"  # noqa: S108 (the sandbox's private tmpfs, not the host's /tmp)
        return env

    def _ref_registry(self) -> str:
        return self.push_to.host if self.push_to is not None else self.registry

    def _cache_root(self, app: App) -> Path:
        return self.data_dir / "cache" / self.source.repo_dir(app).stem

    def _ref_prefix(self, workspace: Workspace, app: App) -> str:
        return f"{self._ref_registry()}/{workspace.name}/{app.name}"

    def _spec(
        self,
        workspace: Workspace,
        app: App,
        commit: Commit,
        plan: dict[str, Any],
        start: str,
        tools: Selection | None = None,
    ) -> oci.ImageSpec:
        port = app.env.get("PORT", "")
        tools = tools or Selection()
        labels = {
            "org.opencontainers.image.revision": commit.sha,
            "dev.slipway.git.branch": commit.branch or "",
            "dev.slipway.git.message": commit.message,
        }
        if tools.label:  # the store entries its replicas get bound (runtime/local/process.py)
            labels[LABEL] = tools.label
        return oci.ImageSpec(
            ref_prefix=self._ref_prefix(workspace, app),
            start_command=start,
            env={"PATH": toolchain_path(), **plan["variables"], **tools.env()},
            port=port if port.isdigit() else "8080",
            labels=labels,
        )

    # ------------------------------------------------------------------ reuse

    async def _reuse(self, key: str, ref_prefix: str) -> Image | None:
        try:
            digest = (self.images_dir / "keys" / key).read_text(encoding="ascii").strip()
        except OSError:
            return None
        hexd = oci.digest_hex(digest)
        if not hexd:
            return None
        return oci.load(self.images_dir / hexd, ref=f"{ref_prefix}:sha256-{hexd[:12]}")

    def _remember(self, key: str, image: Image) -> None:
        keys = self.images_dir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        tmp = keys / f".{key}.{secrets.token_hex(4)}"
        tmp.write_text(image.digest, encoding="ascii")
        tmp.replace(keys / key)


# Bump when a provider's plans change, so old images are not reused. 3: images are root's,
# 0644/0755 (sandboxes run as per-app uids). 4: the image starts the detected command (the
# app's startCommand is the revision's), toolchain versions, static sites served by caddy.
BUILDER_VERSION = "4"


def build_key(app: App, commit: Commit, *, pushed_to: str = "") -> str:
    """sha256 over everything that decides what a build produces (env values only hashed)."""
    settings = {
        "builder": BUILDER_VERSION,
        "pushedTo": pushed_to,
        "sha": commit.sha,
        "root": app.root_directory,
        "buildpack": app.buildpack,
        "install": app.install_command,
        "build": app.build_command,
        "env": build_env(app.env, app.install_command, app.build_command),
        "name": app.name,
        "workspace": app.workspace_id,
    }
    return hashlib.sha256(oci.canonical(settings)).hexdigest()


# Variables a build is known to read: the plan's switches, the package managers' settings,
# and the frameworks' build-time prefixes (baked into bundles by Next.js, Vite, CRA, ...).
BUILD_ENV_PREFIXES = (
    "NIXPACKS_", "NODE_", "NPM_", "npm_config_", "YARN_", "PNPM_", "COREPACK_", "BUN_",
    "PIP_", "UV_", "POETRY_", "PDM_", "PYTHON", "GO", "CGO_", "CARGO_", "RUST", "BUNDLE_",
    "RAILS_", "RACK_", "COMPOSER_", "MAVEN_", "GRADLE_", "JAVA_", "DENO_",
    "NEXT_PUBLIC_", "VITE_", "REACT_APP_", "PUBLIC_", "GATSBY_", "NUXT_", "EXPO_PUBLIC_",
    "VUE_APP_", "STORYBOOK_", "ASTRO_", "SVELTEKIT_",
)  # fmt: skip
_REFERENCED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def build_env(env: Mapping[str, str], *commands: str | None) -> dict[str, str]:
    """The part of the app's env that decides what its build produces: the variables above
    and any the app's own install/build commands name (`$VAR`, `${VAR}`). A change to any
    other variable (a database URL, a secret the app reads at run time) reuses the image."""
    named = {m for cmd in commands if cmd for m in _REFERENCED.findall(cmd)}
    return {k: v for k, v in env.items() if k.startswith(BUILD_ENV_PREFIXES) or k in named}


async def make_plan(
    app_dir: Path, app: App, announce: LogSink
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the repository's own plan, the plan with the app's start command), announced as a
    build log says it; DeployFailed when nothing names a start command."""
    own = repository_plan(
        app_dir, env=app.env, install_cmd=app.install_command, build_cmd=app.build_command
    )
    plan = with_start(own, app.start_command)
    title = provider_title(plan)
    await announce(
        f"[nixpacks] Detected {title} project" if title else "[nixpacks] Using the Procfile"
    )
    for note in plan.get("notes", []):  # guesses the plan had to make, said as such
        await announce(f"[nixpacks] Note: {note}")
    if not plan["start"]["cmd"]:
        raise DeployFailed("no start command was found: set one or add a Procfile.")
    return own, plan


async def start_sandboxed(
    sandbox: SandboxHost, argv: list[str], jail: Jail, **kwargs: Any
) -> Sandboxed:
    try:
        return await sandbox.start(argv, jail, **kwargs)
    except (SandboxError, NetworkError) as exc:  # never run unsandboxed
        raise DeployFailed(f"the build sandbox could not start: {exc}.") from exc


async def checkout(
    sandbox: SandboxHost, source: GitSource, app: App, sha: str, app_dir: Path
) -> None:
    """`git archive` of the commit (on the host, from the app's git cache) streamed into
    `untar.py` in a sandbox without network, running as the app's uid."""
    uid = sandbox.uid_for(app.serial)
    await asyncio.to_thread(_own_dir, app_dir, uid)
    read_end, write_end = os.pipe()
    try:
        git = await source.archive(app, sha, stdout=write_end)
    finally:
        os.close(write_end)
    try:
        jail = Jail(uid=uid, app_dir=app_dir, env={}, limits=BUILD_LIMITS,
                    app_writable=True, files={UNTAR_PATH: UNTAR}, network=False)  # fmt: skip
        box = await start_sandboxed(sandbox, ["python3", "-I", UNTAR_PATH], jail,
                                    stdin=read_end, stdout=asyncio.subprocess.DEVNULL)  # fmt: skip
    except BaseException:
        await proc.kill_group(git)
        raise
    finally:
        os.close(read_end)
    try:
        assert box.proc.stderr is not None
        errors = (await box.proc.stderr.read()).decode("utf-8", "replace")  # a line or two
        status = await box.proc.wait()
        await source.archive_done(git, app)
    finally:
        box.kill()
        await box.release()
        await proc.kill_group(git)
    if status == 3:  # untar.EXIT_UNSAFE
        reason = errors.strip().splitlines()[-1].removeprefix("unsafe tree: ")
        raise DeployFailed(f"the commit's tree is unsafe to check out: {reason}.")
    if status != 0:
        raise DeployFailed("the commit could not be checked out.")


def _own_dir(path: Path, uid: int) -> None:
    """Make `path` a directory of `uid`'s, 0755 (bubblewrap enters it before it drops to
    `uid`, without CAP_DAC_OVERRIDE); its parents stay root's, 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, uid)
    path.chmod(0o755)
