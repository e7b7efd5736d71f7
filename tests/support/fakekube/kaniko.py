"""A simulated kaniko: what a job pod's container does when its image is kaniko's
(`kaniko-project/executor`). Its init containers (a build's git clone and checkout) succeed
at once and log nothing.

It reads the Dockerfile named by `--dockerfile` from the ConfigMap or Secret volume mounted
there (when the pod is created), logs kaniko-like lines (`Retrieving image manifest <FROM>`,
`Built cross stage deps`, `RUN ...` per RUN line, `Pushing image to <destination>`,
`Pushed ...`), really pushes a minimal image (one small gzip layer, a config, a Docker v2
manifest) to the registry named in `--destination` (plain HTTP: loopback test registries),
and ends with exit code 0 and the manifest digest as its termination message (what
`--digest-file=/dev/termination-log` does).

It fails (exit 1, an `error building image: ...` line, no push) when the Dockerfile is missing
or empty, when `--destination` is missing, when the push fails, or when a RUN line's command
ends in `exit N` with N > 0 (how a test makes a build fail: e.g. the app's build command
`exit 3`, which the Dockerfile runs as `RUN ["/bin/sh", "-c", "exit 3"]`).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field

import httpx
from tests.support.fakekube.resources import Obj
from tests.support.fakekube.store import Store

IMAGE_MARK = "kaniko-project/executor"
EXIT_RE = re.compile(r"\bexit (\d+)\s*$")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def is_kaniko(image: str) -> bool:
    return IMAGE_MARK in image


def _flag(args: list[str], name: str) -> str | None:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def read_mounted(store: Store, namespace: str, pod_spec: Obj, container: Obj, path: str) -> str:
    """The file at `path` in the container, from a ConfigMap or Secret volume ("" if none)."""
    for mount in container.get("volumeMounts") or []:
        root = str(mount.get("mountPath", "")).rstrip("/")
        if not root or not path.startswith(root + "/"):
            continue
        key = path[len(root) + 1 :]
        for volume in pod_spec.get("volumes") or []:
            if volume.get("name") != mount.get("name"):
                continue
            if "configMap" in volume:
                obj = store.get("ConfigMap", namespace, volume["configMap"].get("name", ""))
                return str(((obj or {}).get("data") or {}).get(key, ""))
            if "secret" in volume:
                obj = store.get("Secret", namespace, volume["secret"].get("secretName", ""))
                data = ((obj or {}).get("data") or {}).get(key, "")
                try:
                    return base64.b64decode(data).decode("utf-8")
                except ValueError:
                    return ""
    return ""


def _run_commands(dockerfile: str) -> list[tuple[str, str]]:
    """(the RUN line's text, its command) for each RUN line."""
    out = []
    for line in dockerfile.splitlines():
        if not line.startswith("RUN "):
            continue
        rest = line[4:].strip()
        command = rest
        if rest.startswith("["):
            try:
                argv = json.loads(rest)
                command = str(argv[-1]) if argv else ""
            except ValueError:
                pass
        out.append((rest, command))
    return out


def _push(destination: str, insecure: bool, content: bytes) -> str:
    """Push a minimal image as `destination` (host/name:tag); its manifest digest."""
    host, _, rest = destination.partition("/")
    name, _, tag = rest.rpartition(":")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("app/.fake-kaniko")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "WorkingDir": "/app"},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]},
    }).encode()  # fmt: skip
    blobs = [(DOCKER_LAYER, layer), (DOCKER_CONFIG, config)]
    described = [
        {
            "mediaType": kind,
            "size": len(data),
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        }
        for kind, data in blobs
    ]
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": described[1],
        "layers": [described[0]],
    }).encode()  # fmt: skip
    scheme = "http" if insecure or host.startswith(("127.", "localhost")) else "https"
    with httpx.Client(base_url=f"{scheme}://{host}", timeout=30) as client:
        for (_, data), desc in zip(blobs, described, strict=True):
            started = client.post(f"/v2/{name}/blobs/uploads/")
            started.raise_for_status()
            location = started.headers["Location"]
            joiner = "&" if "?" in location else "?"
            url = f"{location}{joiner}digest={desc['digest']}"
            octets = {"Content-Type": "application/octet-stream"}
            client.put(url, content=data, headers=octets).raise_for_status()
        answer = client.put(f"/v2/{name}/manifests/{tag}", content=manifest,
                            headers={"Content-Type": DOCKER_MANIFEST})  # fmt: skip
        answer.raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


@dataclass
class KanikoSim:
    args: list[str]
    dockerfile: str
    lines: list[str] = field(default_factory=list)  # before the push
    error: str = ""  # set: the build fails with this line
    digest: str = ""
    done: threading.Event = field(default_factory=threading.Event)
    finished_wall: float = 0.0  # time.time() when it ended

    @classmethod
    def of(cls, store: Store, pod: Obj, container: Obj) -> KanikoSim:
        args = [str(a) for a in container.get("args") or []]
        path = _flag(args, "dockerfile") or "/workspace/Dockerfile"
        spec = pod.get("spec") or {}
        text = read_mounted(store, pod["metadata"]["namespace"], spec, container, path)
        sim = cls(args=args, dockerfile=text)
        sim._plan()
        if sim.error:
            sim.finished_wall = time.time()
            sim.done.set()
        else:
            threading.Thread(target=sim._run, name="fake-kaniko", daemon=True).start()
        return sim

    @property
    def destination(self) -> str:
        return _flag(self.args, "destination") or ""

    def _plan(self) -> None:
        if not self.dockerfile.strip():
            self.error = "error building image: parsing dockerfile: file with no instructions"
            return
        if not self.destination:
            self.error = "error: --destination is required (or --no-push)"
            return
        bases = [ln.split()[1] for ln in self.dockerfile.splitlines()
                 if ln.startswith("FROM ") and len(ln.split()) > 1]  # fmt: skip
        for base in bases:
            self.lines.append(f"INFO[0000] Retrieving image manifest {base}")
        self.lines.append("INFO[0000] Built cross stage deps: map[]")
        self.lines.append("INFO[0000] Executing 0 build triggers")
        for text, command in _run_commands(self.dockerfile):
            self.lines.append(f"INFO[0001] RUN {text}")
            code = EXIT_RE.search(command)
            if code and int(code.group(1)) != 0:
                self.error = (
                    "error building image: error building stage: failed to execute command: "
                    f"waiting for process to exit: exit status {code.group(1)}"
                )
                return
        self.lines.append("INFO[0002] Taking snapshot of full filesystem...")

    def _run(self) -> None:
        try:
            insecure = "--insecure" in self.args
            content = f"{self.destination}\n{self.dockerfile}".encode()
            self.digest = _push(self.destination, insecure, content)
        except Exception as exc:
            self.error = (
                f"error pushing image: failed to push to destination {self.destination}: {exc}"
            )
        finally:
            self.finished_wall = time.time()
            self.done.set()

    def logs(self, finishing: bool) -> list[str]:
        """The log so far; `finishing`: the container has run its minimum time."""
        out = list(self.lines)
        if self.error and not self.lines:
            return [self.error] if finishing or self.done.is_set() else []
        if self.error:
            return [*out, self.error] if self.done.is_set() else out
        out.append(f"INFO[0002] Pushing image to {self.destination}")
        if self.done.is_set() and self.digest:
            repo = self.destination.rpartition(":")[0]
            out.append(f"INFO[0003] Pushed {repo}@{self.digest}")
        return out

    def result(self) -> tuple[int, str] | None:
        """(exit code, termination message) once it ended."""
        if not self.done.is_set():
            return None
        return (1, "") if self.error else (0, self.digest)
