"""The pure manifest builders of cluster builds (slipway.builder.clusterjobs): schema-valid,
git and kaniko as argument lists, the builds namespace's security settings."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from tests.support.kubeschemas import assert_valid

from slipway.builder import clusterjobs as cj
from slipway.builder.cluster import termination_digest
from slipway.domain.errors import DeployFailed
from slipway.sandbox import BUILD_LIMITS

SHA = "0123456789abcdef0123456789abcdef01234567"


def _target(**kwargs: Any) -> cj.BuildTarget:
    values: dict[str, Any] = {
        "workspace_id": "ws_1",
        "app_id": "app_1",
        "repository": "registry.example:5000/acme/web",
        "git_url": "https://git.example/acme/web.git",
        "sha": SHA,
    }
    return cj.BuildTarget(**{**values, **kwargs})


def _job(target: cj.BuildTarget | None = None, **kwargs: Any) -> dict[str, Any]:
    return cj.build_job("web-build-x", cj.BUILDS_NAMESPACE, target or _target(),
                        files="web-build-x-plan", timeout=600, **kwargs)  # fmt: skip


def test_every_object_is_schema_valid() -> None:
    target = _target(root="apps/api", insecure_registry=True)
    assert_valid(cj.namespace())
    assert_valid(cj.network_policy())
    assert_valid(cj.plan_files("p", cj.BUILDS_NAMESPACE, target, "FROM scratch\n"))
    assert_valid(cj.plan_files("p", cj.BUILDS_NAMESPACE, target, "FROM x\n", as_config_map=True))
    assert_valid(_job(target))
    assert_valid(_job(target, files_kind="ConfigMap"))


def test_the_plan_object_holds_the_dockerfile() -> None:
    text = 'FROM python:3.11\nRUN ["/bin/sh", "-c", "echo \\u003c"]\n'
    secret = cj.plan_files("p", "ns", _target(), text)
    assert base64.b64decode(secret["data"]["Dockerfile"]).decode() == text
    assert cj.plan_files("p", "ns", _target(), text, as_config_map=True)["data"] == {
        "Dockerfile": text
    }


def test_the_job_clones_then_checks_out_the_exact_commit_as_argument_lists() -> None:
    pod = _job()["spec"]["template"]["spec"]
    clone, checkout = pod["initContainers"]
    assert clone["command"] == checkout["command"] == ["git"]
    assert clone["args"][-7:-3] == ["clone", "--bare", "--quiet", "--no-tags"]
    assert clone["args"][-3:] == ["--", "https://git.example/acme/web.git", "/git/repo.git"]
    assert "protocol.allow=never" in clone["args"]
    assert "protocol.file.allow=always" not in clone["args"]
    assert checkout["args"][-7:] == ["--git-dir=/git/repo.git", "--work-tree=/workspace",
                                     "checkout", "--quiet", "--force", "--detach", SHA]  # fmt: skip
    for init in (clone, checkout):
        security = init["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["allowPrivilegeEscalation"] is False


def test_a_hostile_url_is_one_argument_after_the_double_dash() -> None:
    url = "https://git.example/x;$(touch /pwned)`id`"
    args = _job(_target(git_url=url))["spec"]["template"]["spec"]["initContainers"][0]["args"]
    assert args[-3:] == ["--", url, "/git/repo.git"]
    with pytest.raises(DeployFailed):
        cj.clone_args(_target(git_url="--upload-pack=touch /pwned"))
    with pytest.raises(DeployFailed):
        cj.clone_args(_target(git_url="https://x/\nevil"))


@pytest.mark.parametrize("sha", ["HEAD", SHA[:12], SHA.upper(), f"{SHA[:39]};", "--force " + SHA])
def test_anything_but_a_full_sha_is_refused(sha: str) -> None:
    with pytest.raises(DeployFailed, match="40-character SHA"):
        _job(_target(sha=sha))


def test_kaniko_builds_the_context_and_pushes_the_commit_tag() -> None:
    target = _target(root="apps/api", insecure_registry=True)
    [kaniko] = _job(target, kaniko_image="example/kaniko-project/executor:v9")["spec"]["template"][
        "spec"
    ]["containers"]
    assert kaniko["image"] == "example/kaniko-project/executor:v9"
    assert "command" not in kaniko  # the image's own entrypoint
    assert kaniko["args"] == [
        "--dockerfile=/plan/Dockerfile",
        "--context=dir:///workspace/apps/api",
        f"--destination=registry.example:5000/acme/web:commit-{SHA[:12]}",
        "--digest-file=/dev/termination-log",
        "--snapshot-mode=redo",
        "--use-new-run",
        "--cache=true",
        "--cache-repo=registry.example:5000/acme/web/cache",
        f"--label=org.opencontainers.image.revision={SHA}",
        "--insecure",
        "--insecure-pull",
        "--insecure-registry=registry.example:5000",
    ]
    plain = _job()["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--context=dir:///workspace" in plain and "--insecure" not in plain


def test_kaniko_runs_as_root_unprivileged_within_the_build_limits() -> None:
    job = _job()
    spec = job["spec"]
    pod = spec["template"]["spec"]
    [kaniko] = pod["containers"]
    security = kaniko["securityContext"]
    assert security["privileged"] is False and security["allowPrivilegeEscalation"] is False
    assert security["runAsUser"] == 0
    assert set(security["capabilities"]["drop"]) >= {"NET_RAW", "MKNOD"}
    assert kaniko["resources"]["limits"]["memory"] == f"{BUILD_LIMITS.memory_mb}Mi"
    assert kaniko["resources"]["limits"]["cpu"] == f"{BUILD_LIMITS.cpus:g}"
    assert kaniko["terminationMessagePath"] == "/dev/termination-log"
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert not any("hostPath" in v for v in pod["volumes"])
    assert {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v} == {
        "plan": {"secretName": "web-build-x-plan", "defaultMode": 0o444}
    }
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["ttlSecondsAfterFinished"] == cj.TTL_SECONDS
    labels = job["metadata"]["labels"]
    assert labels == spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "slipway"
    assert (labels["slipway.dev/workspace"], labels["slipway.dev/app"]) == ("ws_1", "app_1")
    assert labels["slipway.dev/role"] == "build"


def test_the_builds_namespace_is_baseline_and_closed_to_ingress() -> None:
    labels = cj.namespace()["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    policy = cj.network_policy()["spec"]
    assert policy == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_job_names_are_dns_labels() -> None:
    name = cj.job_name("a" * 63, SHA, "abc123")
    assert len(name) <= 52 and name.startswith("a" * 30 + "-build-")
    assert cj.job_name("web", SHA, "abc123") == f"web-build-{SHA[:12]}-abc123"


def test_the_termination_message_must_be_a_digest() -> None:
    digest = "sha256:" + "a" * 64
    assert termination_digest(digest + "\n") == digest
    assert termination_digest("") is None
    assert termination_digest("sha256:" + "A" * 64) is None
    assert termination_digest("error: push failed") is None
