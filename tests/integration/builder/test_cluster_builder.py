"""ClusterBuilder end to end against the fake API server (its kaniko simulation pushes for
real) and a real registry: real checkouts and plans, the Job and its Secret as written,
the log as it arrives, failures, find_image."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from builder_git_helpers import APPS, WORKSPACE, Repo, make_app
from registry_server import running_registry
from tests.support.fakekube import FakeCluster
from tests.support.kubeschemas import assert_valid

from slipway.builder import clusterjobs as cj
from slipway.builder import dockerfile
from slipway.builder import registry as registry_mod
from slipway.builder.cluster import ClusterBuilder
from slipway.builder.plan import repository_plan
from slipway.builder.source import GitSource
from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Commit
from slipway.runtime.kubernetes.api import KubeApi, load_connection
from slipway.runtime.kubernetes.jobs import JobRunner

NS = "slipway-builds"


class Lines:
    """A LogSink that remembers each line and when it arrived."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.times: list[float] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.times.append(time.monotonic())

    def index(self, prefix: str) -> int:
        return next(i for i, line in enumerate(self.lines) if line.startswith(prefix))


@dataclass
class Setup:
    cluster: FakeCluster
    registry: registry_mod.Registry
    runner: JobRunner
    source: GitSource
    data_dir: Path

    def builder(self, **kwargs: object) -> ClusterBuilder:
        return ClusterBuilder(
            data_dir=self.data_dir, source=self.source, job_runner=self.runner,
            registry=self.registry, timeout_seconds=60, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.fixture
async def setup(tmp_path: Path, source: GitSource) -> AsyncIterator[Setup]:
    with running_registry(tmp_path / "registry") as host, FakeCluster() as cluster:
        api = KubeApi(load_connection(str(cluster.kubeconfig(tmp_path / "kubeconfig"))))
        runner = JobRunner(api)
        try:
            yield Setup(cluster, registry_mod.Registry.parse(host), runner, source, tmp_path / "d")
        finally:
            await runner.close()
            await api.close()


async def _app(
    make_repo: Callable[..., Repo], source: GitSource, name: str = "repo", **kwargs: object
) -> tuple[Repo, App, Commit]:
    repo = make_repo(name)
    repo.add_fixture("python-plain")
    repo.commit("add python-plain")
    app = make_app(repo.url, **kwargs)
    return repo, app, await source.resolve(app, branch=None, sha=None)


def _secret_dockerfile(cluster: FakeCluster, job: dict[str, object]) -> str:
    spec = job["spec"]["template"]["spec"]  # type: ignore[index]
    volume = next(v for v in spec["volumes"] if v["name"] == "plan")
    secret = cluster.get("Secret", NS, volume["secret"]["secretName"])
    assert secret is not None
    assert_valid(secret)
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Job"
    return base64.b64decode(secret["data"]["Dockerfile"]).decode()


async def test_build_pushes_the_image_and_streams_kaniko_live(
    setup: Setup, make_repo: Callable[..., Repo], source: GitSource
) -> None:
    repo, app, commit = await _app(make_repo, source)
    log = Lines()
    image = await setup.builder().build(workspace=WORKSPACE, app=app, commit=commit, log=log)

    repository = f"{setup.registry.host}/acme/web"
    assert image.ref == f"{repository}@{image.digest}"
    assert image.start_command == "python main.py"
    assert (image.path, image.app_dir) == ("", "")
    pushed = registry_mod.manifest_digest(setup.registry, name="acme/web", reference=image.digest)
    assert pushed == image.digest
    tag = f"commit-{commit.sha[:12]}"
    assert registry_mod.manifest_digest(setup.registry, name="acme/web", reference=tag) == pushed

    # the plan as the local builder says it, then kaniko's output as it was written
    assert log.lines[:3] == [
        f"[git] Checking out {commit.sha[:12]}",
        "[nixpacks] Detected Python project",
        "[nixpacks] Setup: python3, gcc",
    ]
    start = log.index("[kaniko] Building ")
    manifest = log.index("[kaniko] INFO[0000] Retrieving image manifest python:3.11-slim-bookworm")
    deps = log.index("[kaniko] INFO[0000] Built cross stage deps")
    push = log.index(f"[kaniko] INFO[0002] Pushing image to {repository}:{tag}")
    assert start < manifest < deps < push
    assert log.lines[-1] == f"[registry] Push complete: {repository}@{image.digest}"
    assert log.times[-1] - log.times[manifest] >= 0.2  # followed while the pod ran

    [job] = setup.cluster.objects("Job", NS)
    assert_valid(job)
    pod = job["spec"]["template"]["spec"]
    clone, checkout = pod["initContainers"]
    assert clone["command"] == ["git"] and checkout["command"] == ["git"]
    assert clone["args"][-3:] == ["--", repo.url, "/git/repo.git"]
    assert checkout["args"][-2:] == ["--detach", commit.sha]
    assert pod["automountServiceAccountToken"] is False
    [kaniko] = pod["containers"]
    assert f"--destination={repository}:{tag}" in kaniko["args"]
    assert "--digest-file=/dev/termination-log" in kaniko["args"]
    assert job["metadata"]["labels"]["slipway.dev/role"] == "build"
    expected = dockerfile.render(repository_plan(repo.path, env={}))
    assert _secret_dockerfile(setup.cluster, job) == expected
    assert expected == (APPS.parent / "apps" / "python-plain.Dockerfile").read_text()
    namespace = setup.cluster.get("Namespace", None, NS)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    for policy in setup.cluster.objects("NetworkPolicy", NS):
        assert_valid(policy)

    # find_image: what was built (its repository remembered), nothing else
    builder = setup.builder()
    found = await builder.find_image(image.digest)
    assert found == image
    assert await builder.find_image("sha256:" + "0" * 64) is None
    assert await builder.find_image("not a digest") is None


async def test_a_failing_build_raises_with_its_last_lines(
    setup: Setup, make_repo: Callable[..., Repo], source: GitSource
) -> None:
    _, app, commit = await _app(make_repo, source, build_command="exit 3")
    log = Lines()
    with pytest.raises(DeployFailed) as failed:
        await setup.builder().build(workspace=WORKSPACE, app=app, commit=commit, log=log)
    message = str(failed.value)
    assert "kaniko exited with status 1" in message
    assert "exit status 3" in message
    assert any(line.startswith("[kaniko] error building image") for line in log.lines)
    tag = f"commit-{commit.sha[:12]}"
    assert registry_mod.manifest_digest(setup.registry, name="acme/web", reference=tag) is None


async def test_a_kaniko_image_that_cannot_be_pulled_fails_the_build(
    setup: Setup, make_repo: Callable[..., Repo], source: GitSource
) -> None:
    _, app, commit = await _app(make_repo, source)
    builder = setup.builder(kaniko_image="gcr.io/kaniko-project/executor:does-not-exist")
    with pytest.raises(DeployFailed, match="could not start: ImagePullBackOff"):
        await builder.build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    for _ in range(100):  # the runner deleted the job that could not start
        if not setup.cluster.objects("Job", NS):
            break
        await asyncio.sleep(0.05)
    assert setup.cluster.objects("Job", NS) == []


async def test_a_repository_path_reaches_git_as_one_argument_never_a_shell(
    setup: Setup, make_repo: Callable[..., Repo], source: GitSource
) -> None:
    repo, app, commit = await _app(make_repo, source, name="x --upload-pack touch pwned")
    await setup.builder().build(workspace=WORKSPACE, app=app, commit=commit, log=Lines())
    [job] = setup.cluster.objects("Job", NS)
    pod = job["spec"]["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container.get("command", ["git"]) == ["git"]  # kaniko: its own entrypoint
        assert not {"sh", "/bin/sh", "bash"} & set(container["args"])
    assert pod["initContainers"][0]["args"][-3:] == ["--", repo.url, "/git/repo.git"]


@pytest.mark.parametrize(
    "url",
    ["https://example.com/x$(touch pwned)", "--upload-pack=touch pwned", "/tmp/a;id", "ext::sh"],
)
async def test_a_hostile_url_or_sha_never_reaches_the_cluster(
    setup: Setup, make_repo: Callable[..., Repo], source: GitSource, url: str
) -> None:
    _, app, commit = await _app(make_repo, source)
    hostile = make_app(url)
    with pytest.raises(DeployFailed, match="cannot be cloned"):
        await setup.builder().build(workspace=WORKSPACE, app=hostile, commit=commit, log=Lines())
    bad_sha = Commit(branch=None, sha="HEAD;touch pwned", message="")
    with pytest.raises(DeployFailed, match="40-character SHA"):
        await setup.builder().build(workspace=WORKSPACE, app=app, commit=bad_sha, log=Lines())
    assert setup.cluster.objects("Job", NS) == []


@pytest.mark.parametrize(
    ("dockerfile_text", "destination", "error"),
    [
        ("", True, "error building image: parsing dockerfile"),
        ("FROM scratch\n", False, "--destination is required"),
    ],
)
async def test_the_fake_kaniko_fails_without_a_dockerfile_or_destination(
    setup: Setup, dockerfile_text: str, destination: bool, error: str
) -> None:
    target = cj.BuildTarget(workspace_id="ws_1", app_id="app_1", git_url="https://g.example/r",
                            repository=f"{setup.registry.host}/acme/web", sha="a" * 40)  # fmt: skip
    await setup.runner.apply(cj.namespace())
    files = cj.plan_files("odd-plan", NS, target, dockerfile_text)
    job = cj.build_job("odd", NS, target, files="odd-plan", timeout=30)
    if not destination:
        kaniko = job["spec"]["template"]["spec"]["containers"][0]
        kaniko["args"] = [a for a in kaniko["args"] if not a.startswith("--destination=")]
    log = Lines()
    code, message = await setup.runner.run_job(job, log=log, timeout=30, attached=[files])
    assert (code, message) == (1, "")
    assert error in log.lines[-1]
