"""`ClusterBuilder`: builds on a Kubernetes cluster (issue 17), implementing
`slipway.ports.Builder`.

The plan is made here exactly as the local builder makes it (the commit's tree unpacked in a
sandbox, `plan.repository_plan`, the same log lines), rendered as a Dockerfile
(`dockerfile.render`), and built by kaniko in a Job in the builds namespace
(`clusterjobs.build_job`): init containers clone the repository at the exact commit (git as
an argument list, never a shell), kaniko builds and pushes
`{registry}/{workspace}/{app}:commit-{12 hex}` and writes the manifest digest to its
termination message. Its output is forwarded live as `[kaniko] ...` lines (at most
`log_limit`). The image is `{registry}/{workspace}/{app}@{digest}`: the name the Kubernetes
runtime pulls (`manifests.image_ref`), so `registry` must be the runtime's registry.

**Pod security.** kaniko unpacks base images over its own root filesystem and runs RUN
lines as root inside its container: it needs no privileged daemon, but it does need root,
which the `restricted` profile forbids. The builds namespace is therefore `baseline`
(the tenants' namespaces stay `restricted`), and the pod gives kaniko as little as it can:
not privileged, no privilege escalation, a few capabilities dropped, no hostPath, no service
account token, the build limits (`sandbox.BUILD_LIMITS`) as resource limits, a deadline, no
retries, deleted an hour after it ends. The git init containers run as non-root with every
capability dropped. Nothing reaches a build pod (a NetworkPolicy without ingress rules).

**`find_image`.** It gets only a digest; the repository the digest was pushed to is kept,
per image, in `data_dir/cluster-images/<hex>.json` (`{"repository", "start"}`), written
after each build (one file each: no read-modify-write between processes). The image is
found when that file exists and the registry still answers `HEAD /v2/<name>/manifests/
<digest>`.

The cluster side is the small `JobRunner` protocol below: `slipway.runtime.kubernetes.jobs`
implements it over the cluster API (this package may not import the runtime).
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from slipway.builder import clusterjobs as cj
from slipway.builder import dockerfile
from slipway.builder import registry as registry_mod
from slipway.builder.local import CappedLog, checkout, make_plan
from slipway.builder.source import GitSource, root_subpath
from slipway.builder.versions import read_requests
from slipway.domain.errors import DeployFailed, Invalid
from slipway.domain.giturls import check_git_url
from slipway.domain.models import App, Commit, Image, Workspace
from slipway.ports import LogSink
from slipway.sandbox import SandboxHost

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PLAIN_VERSION = re.compile(r"^\d{1,4}(?:\.\d{1,4}){0,2}$")
FAILURE_LINES = 3  # the kaniko lines a failed build's reason quotes


class JobRunner(Protocol):
    """What a build needs from the cluster."""

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create or update an object (server-side apply); the stored object."""
        ...

    async def run_job(
        self,
        job: dict[str, Any],
        *,
        log: LogSink,
        timeout: float,
        attached: Sequence[dict[str, Any]] = (),
    ) -> tuple[int, str]:
        """Apply `attached` (objects the Job's pod mounts), then the Job, then make the Job
        their owner (they go when it goes); follow the log of the pod's first container into
        `log` as it is written; return its (exit code, termination message). DeployFailed
        when the pod cannot start (an image that cannot be pulled, an init container that
        failed) or the Job is not done within `timeout` seconds. Cancelling deletes the Job."""
        ...


def termination_digest(message: str) -> str | None:
    """The digest kaniko wrote to its termination message, if it is one."""
    text = message.strip()
    return text if _DIGEST.fullmatch(text) else None


class ClusterBuilder:
    """Implements `slipway.ports.Builder` with kaniko Jobs on a Kubernetes cluster."""

    def __init__(
        self,
        *,
        data_dir: Path,
        source: GitSource,
        job_runner: JobRunner,
        registry: registry_mod.Registry,
        sandbox: SandboxHost | None = None,
        namespace: str = cj.BUILDS_NAMESPACE,
        kaniko_image: str = cj.KANIKO_IMAGE,
        git_image: str = cj.GIT_IMAGE,
        timeout_seconds: float = 900,
        log_limit: int = 10000,
        manage_namespace: bool = True,
    ) -> None:
        """`registry`: where kaniko pushes, the runtime's registry. `manage_namespace`:
        create the builds namespace (baseline) and its NetworkPolicy on the first build;
        False when the operator made them."""
        self.data_dir = data_dir
        self.source = source
        self.runner = job_runner
        self.registry = registry
        self.sandbox = sandbox or SandboxHost()
        self.namespace = namespace
        self.kaniko_image = kaniko_image
        self.git_image = git_image
        self.timeout_seconds = timeout_seconds
        self.log_limit = log_limit
        self.images_dir = data_dir / "cluster-images"
        self._namespace_ready = not manage_namespace
        self._found: dict[str, Image] = {}

    # ------------------------------------------------------------------ Builder

    async def find_image(self, digest: str) -> Image | None:
        """The reconciler asks at every pass: an image once found in the registry is
        remembered for the process's life (a digest never names another image)."""
        if digest in self._found:
            return self._found[digest]
        if not _DIGEST.fullmatch(digest):
            return None
        try:
            record = json.loads(
                (self.images_dir / f"{digest.removeprefix('sha256:')}.json").read_text()
            )
            repository, start = str(record["repository"]), str(record["start"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        host, _, name = repository.partition("/")
        if host != self.registry.host or not name:
            return None
        try:
            found = await asyncio.to_thread(
                registry_mod.manifest_digest, self.registry, name=name, reference=digest
            )
        except DeployFailed:
            return None
        if found is None:
            return None
        image = self._found[digest] = self._image(repository, digest, start)
        return image

    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        sha = cj.check_sha(commit.sha)
        try:  # checked again: nothing the cluster gets was not
            url = check_git_url("gitUrl", app.git_url, local=self.source.local)
        except Invalid as exc:
            raise DeployFailed(f"the repository URL cannot be cloned ({exc}).") from exc
        root = root_subpath(app.root_directory)
        blog = CappedLog(log, self.log_limit)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        try:
            async with asyncio.timeout(self.timeout_seconds):
                start, text = await self._plan(app, sha, blog)
        except TimeoutError:
            raise self._late() from None
        repository = f"{self.registry.host}/{workspace.name}/{app.name}"
        target = cj.BuildTarget(
            workspace_id=workspace.id,
            app_id=app.id,
            repository=repository,
            git_url=url,
            sha=sha,
            root=root,
            insecure_registry=self.registry.base_url.startswith("http://"),
            git_protocols=("https", "http", "ssh")
            + (("file",) if self.source.local.enabled else ()),
        )
        await self._ensure_namespace()
        name = cj.job_name(app.name, sha, secrets.token_hex(3))
        files = cj.plan_files(f"{name}-plan", self.namespace, target, text)
        left = max(deadline - loop.time(), 1.0)
        job = cj.build_job(name, self.namespace, target, files=f"{name}-plan", timeout=left,
                           kaniko_image=self.kaniko_image, git_image=self.git_image)  # fmt: skip
        await blog.announce(f"[kaniko] Building {target.destination} (job {self.namespace}/{name})")
        tail: collections.deque[str] = collections.deque(maxlen=FAILURE_LINES)

        async def output(line: str) -> None:
            if line.strip():
                tail.append(line.strip())
            await blog.output(f"[kaniko] {line}")

        code, message = await self.runner.run_job(job, log=output, timeout=left, attached=[files])
        if code != 0:
            said = " | ".join(tail)[-500:] or "no output"
            raise DeployFailed(f"the image build failed (kaniko exited with status {code}): {said}")
        digest = termination_digest(message) or await self._pushed_digest(target)
        await blog.announce(f"[registry] Push complete: {repository}@{digest}")
        self._remember(repository, digest, start)
        return self._image(repository, digest, start)

    # ------------------------------------------------------------------ steps

    async def _plan(self, app: App, sha: str, log: CappedLog) -> tuple[str, str]:
        """(the image's start command, its Dockerfile), from the commit's tree unpacked in a
        sandbox as the local builder does it; the tree is removed afterwards."""
        build_dir = self.data_dir / "builds" / secrets.token_hex(8)
        app_dir = build_dir / "app"
        try:
            await log.announce(f"[git] Checking out {sha[:12]}")
            await checkout(self.sandbox, self.source, app, sha, app_dir)
            own, _ = await make_plan(app_dir, app, log.announce)
            requests = await asyncio.to_thread(read_requests, app_dir, app.env)
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, build_dir, True))
        versions = {
            tool: r.wanted
            for tool, r in requests.items()
            if not r.default and _PLAIN_VERSION.fullmatch(r.wanted)
        }
        packages: list[str] = own["phases"]["setup"]["nixPkgs"]
        if packages:
            await log.announce(f"[nixpacks] Setup: {', '.join(packages)}")
        # The image starts what the repository says; the app's startCommand is the
        # revision's (as in local builds), "" when only the app's setting names one.
        return own["start"]["cmd"] or "", dockerfile.render(own, versions=versions)

    async def _ensure_namespace(self) -> None:
        if self._namespace_ready:
            return
        await self.runner.apply(cj.namespace(self.namespace))
        await self.runner.apply(cj.network_policy(self.namespace))
        self._namespace_ready = True

    async def _pushed_digest(self, target: cj.BuildTarget) -> str:
        name = target.repository.partition("/")[2]
        digest = await asyncio.to_thread(
            registry_mod.manifest_digest, self.registry, name=name, reference=target.tag
        )
        if digest is None or not _DIGEST.fullmatch(digest):
            raise DeployFailed(
                f"the build ended but the registry has no image {target.destination}."
            )
        return digest

    def _remember(self, repository: str, digest: str, start: str) -> None:
        self.images_dir.mkdir(parents=True, exist_ok=True)
        hexd = digest.removeprefix("sha256:")
        tmp = self.images_dir / f".{hexd}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps({"repository": repository, "start": start}), encoding="utf-8")
        tmp.replace(self.images_dir / f"{hexd}.json")

    @staticmethod
    def _image(repository: str, digest: str, start: str) -> Image:
        return Image(ref=f"{repository}@{digest}", digest=digest, start_command=start,
                     path="", app_dir="")  # fmt: skip

    def _late(self) -> DeployFailed:
        return DeployFailed(
            f"the build exceeded its time limit of {self.timeout_seconds:g} seconds."
        )
