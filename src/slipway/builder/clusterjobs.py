"""The objects a build on a Kubernetes cluster writes, as pure functions (no I/O: the
tests validate every one against the API server's schemas).

In the builds namespace (`slipway-builds` by default, Pod Security `baseline`: kaniko runs as
root inside its container, which `restricted` forbids; see `cluster.py`):

- a Secret holding the rendered Dockerfile (`plan_files`, mounted read-only at `/plan`;
  a ConfigMap would do as well, `as_config_map=True`, once the cluster client knows the kind),
  owned by the Job once it exists, so it goes when the Job goes;
- the Job (`build_job`): two init containers, then kaniko. `clone` makes a bare clone of the
  repository into an emptyDir at `/git` and `checkout` writes exactly the commit's tree into
  the emptyDir at `/workspace` (`--work-tree`: no `.git` in the build context, like the local
  builder's `git archive`). Both run git as an argument list, never a shell: the URL after
  `--`, the SHA checked to be 40 hex digits first, as non-root with every capability dropped.
  Kaniko builds `/workspace` (or its `root_directory` sub-folder) with the Dockerfile and
  pushes `{registry}/{workspace}/{app}:commit-{12 hex}`, writing the manifest digest to
  `/dev/termination-log`: the pod status carries it (`state.terminated.message`).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from slipway.domain.errors import DeployFailed
from slipway.sandbox import BUILD_LIMITS

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
GIT_IMAGE = "alpine/git:2.45.2"
BUILDS_NAMESPACE = "slipway-builds"

MANAGED_BY = "app.kubernetes.io/managed-by"
WORKSPACE = "slipway.dev/workspace"
APP = "slipway.dev/app"
ROLE = "slipway.dev/role"
COMMIT = "slipway.dev/commit"

KANIKO_CONTAINER = "kaniko"
PLAN_DIR = "/plan"
DOCKERFILE = "Dockerfile"
WORKSPACE_DIR = "/workspace"
GIT_DIR = "/git/repo.git"
TERMINATION_LOG = "/dev/termination-log"
WORKSPACE_LIMIT = "4Gi"  # the checkout (the local builder's output limit)
KANIKO_STORAGE = "8Gi"  # kaniko unpacks the base image and snapshots into its own root
TTL_SECONDS = 3600
# kaniko needs root's usual capabilities to unpack images and run RUN lines (chown, setuid
# for apt's `_apt`, ...); these it does not.
KANIKO_DROPPED = ("NET_RAW", "MKNOD", "AUDIT_WRITE")

_SHA = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class BuildTarget:
    """What one build makes and where it goes."""

    workspace_id: str
    app_id: str
    repository: str  # "{registry host}/{workspace name}/{app name}", the image's name
    git_url: str  # checked by `check_git_url` already
    sha: str  # 40 hex digits
    root: str | None = None  # `root_subpath(app.root_directory)`: clean, relative
    insecure_registry: bool = False  # plain HTTP (a loopback or in-cluster registry)
    git_protocols: tuple[str, ...] = ("https", "http", "ssh")

    @property
    def tag(self) -> str:
        return f"commit-{self.sha[:12]}"

    @property
    def destination(self) -> str:
        return f"{self.repository}:{self.tag}"


def check_sha(sha: str) -> str:
    if not _SHA.fullmatch(sha):
        raise DeployFailed("the commit to build must be a full 40-character SHA.")
    return sha


def labels(target: BuildTarget) -> dict[str, str]:
    return {
        MANAGED_BY: "slipway",
        WORKSPACE: target.workspace_id,
        APP: target.app_id,
        ROLE: "build",
        COMMIT: check_sha(target.sha)[:12],
    }


def job_name(app_name: str, sha: str, token: str) -> str:
    """`{app}-build-{12 hex}-{token}`, at most 63 characters (a pod adds its own suffix)."""
    base = f"{app_name[:30]}-build-{check_sha(sha)[:12]}-{token}".strip("-")
    if not _NAME.fullmatch(base):
        raise DeployFailed("the app's name cannot name a build job.")
    return base[:52]


def namespace(name: str = BUILDS_NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                MANAGED_BY: "slipway",
                ROLE: "build",
                # kaniko is root inside its container: `restricted` would refuse it
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def network_policy(ns: str = BUILDS_NAMESPACE) -> dict[str, Any]:
    """Nothing reaches a build pod (they reach out: git, registries, package indexes)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "slipway-builds-no-ingress",
            "namespace": ns,
            "labels": {MANAGED_BY: "slipway", ROLE: "build"},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def plan_files(
    name: str, ns: str, target: BuildTarget, dockerfile: str, *, as_config_map: bool = False
) -> dict[str, Any]:
    """The Dockerfile, as the object the Job mounts at /plan."""
    meta = {"name": name, "namespace": ns, "labels": labels(target)}
    if as_config_map:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {DOCKERFILE: dockerfile}}  # fmt: skip
    encoded = base64.b64encode(dockerfile.encode("utf-8")).decode("ascii")
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "data": {DOCKERFILE: encoded}}  # fmt: skip


def _git_config(target: BuildTarget) -> list[str]:
    """git's `-c` options: only the allowed transports, no hooks, no submodules, no
    credential helper (as `source.GitSource` runs it)."""
    out = ["-c", "protocol.allow=never"]
    for name in target.git_protocols:
        out += ["-c", f"protocol.{name}.allow=always"]
    out += ["-c", "core.hooksPath=/dev/null", "-c", "credential.helper=",
            "-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false",
            "-c", "advice.detachedHead=false"]  # fmt: skip
    return out


def clone_args(target: BuildTarget) -> list[str]:
    url = target.git_url
    if url.startswith("-") or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise DeployFailed("the repository URL cannot be cloned.")
    return [*_git_config(target), "clone", "--bare", "--quiet", "--no-tags",
            "--", url, GIT_DIR]  # fmt: skip


def checkout_args(target: BuildTarget) -> list[str]:
    sha = check_sha(target.sha)
    return [*_git_config(target), f"--git-dir={GIT_DIR}", f"--work-tree={WORKSPACE_DIR}",
            "checkout", "--quiet", "--force", "--detach", sha]  # fmt: skip


def kaniko_args(target: BuildTarget) -> list[str]:
    context = f"dir://{WORKSPACE_DIR}" + (f"/{target.root}" if target.root else "")
    args = [
        f"--dockerfile={PLAN_DIR}/{DOCKERFILE}",
        f"--context={context}",
        f"--destination={target.destination}",
        f"--digest-file={TERMINATION_LOG}",
        "--snapshot-mode=redo",
        "--use-new-run",
        "--cache=true",
        f"--cache-repo={target.repository}/cache",
        f"--label=org.opencontainers.image.revision={check_sha(target.sha)}",
    ]
    if target.insecure_registry:
        host = target.repository.split("/", 1)[0]
        args += ["--insecure", "--insecure-pull", f"--insecure-registry={host}"]
    return args


def _git_container(name: str, image: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": ["git"],
        "args": args,
        "env": [
            {"name": "HOME", "value": "/tmp"},  # noqa: S108 - the pod's own emptyDir
            {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
            {"name": "GIT_CONFIG_NOSYSTEM", "value": "1"},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "1024Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "git", "mountPath": "/git"},
            {"name": "workspace", "mountPath": WORKSPACE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
        ],
    }


def _kaniko_container(image: str, target: BuildTarget) -> dict[str, Any]:
    memory = f"{BUILD_LIMITS.memory_mb}Mi"
    cpus = f"{BUILD_LIMITS.cpus:g}"
    return {
        "name": KANIKO_CONTAINER,
        "image": image,
        "args": kaniko_args(target),
        "resources": {
            "requests": {"cpu": "500m", "memory": "1024Mi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": cpus, "memory": memory, "ephemeral-storage": KANIKO_STORAGE},
        },
        # Root in its own container (it unpacks the base image over its root filesystem),
        # not privileged, no privilege escalation, a few capabilities fewer than runc's.
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": list(KANIKO_DROPPED)},
        },
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": "plan", "mountPath": PLAN_DIR, "readOnly": True},
            {"name": "workspace", "mountPath": WORKSPACE_DIR},
        ],
    }


def build_job(
    name: str,
    ns: str,
    target: BuildTarget,
    *,
    files: str,
    timeout: float,
    kaniko_image: str = KANIKO_IMAGE,
    git_image: str = GIT_IMAGE,
    files_kind: str = "Secret",
) -> dict[str, Any]:
    """The build Job; `files`: the name of the object `plan_files` made."""
    lbl = labels(target)
    plan_volume: dict[str, Any] = (
        {"name": "plan", "configMap": {"name": files, "defaultMode": 0o444}}
        if files_kind == "ConfigMap"
        else {"name": "plan", "secret": {"secretName": files, "defaultMode": 0o444}}
    )
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [
            _git_container("clone", git_image, clone_args(target)),
            _git_container("checkout", git_image, checkout_args(target)),
        ],
        "containers": [_kaniko_container(kaniko_image, target)],
        "volumes": [
            plan_volume,
            {"name": "git", "emptyDir": {"sizeLimit": WORKSPACE_LIMIT}},
            {"name": "workspace", "emptyDir": {"sizeLimit": WORKSPACE_LIMIT}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": lbl},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(int(timeout), 1),
            "ttlSecondsAfterFinished": TTL_SECONDS,
            "template": {"metadata": {"labels": lbl}, "spec": pod},
        },
    }
