"""What a simulated pod's first container does, told by `FAKEKUBE_BEHAVIOUR` in its
environment: its status and its log at any moment after it was created."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from tests.support.fakekube.kaniko import KanikoSim, is_kaniko
from tests.support.fakekube.resources import Obj, rfc3339
from tests.support.fakekube.store import Store

BEHAVIOUR = "FAKEKUBE_BEHAVIOUR"
JOB_RUNTIME = 0.3  # seconds a job's container runs
CRASH_AFTER = 0.2  # seconds a crash-looping container runs
CRASH_PERIOD = 1.0  # seconds between its starts (the back-off)
CRASH_LINE = "boom: crashing on purpose"
EXIT_RE = re.compile(r"exit (\d+)\s*$")


def _decoded(data: dict[str, str] | None) -> dict[str, str]:
    out = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value).decode()
        except ValueError:
            out[key] = ""
    return out


def _source(store: Store, namespace: str, ref: Obj | None, secret: bool) -> dict[str, str]:
    if not ref:
        return {}
    obj = store.get("Secret" if secret else "ConfigMap", namespace, ref.get("name", ""))
    if obj is None:
        return {}
    return _decoded(obj.get("data")) if secret else dict(obj.get("data") or {})


def resolve_env(store: Store, namespace: str, container: Obj) -> dict[str, str]:
    """The container's environment: envFrom (secrets, config maps), then env."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        values = {
            **_source(store, namespace, src.get("configMapRef"), secret=False),
            **_source(store, namespace, src.get("secretRef"), secret=True),
        }
        env.update({prefix + key: value for key, value in values.items()})
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item:
            env[name] = str(item["value"])
            continue
        value_from = item.get("valueFrom") or {}
        for ref_name, secret in (("secretKeyRef", True), ("configMapKeyRef", False)):
            ref = value_from.get(ref_name)
            if ref:
                env[name] = _source(store, namespace, ref, secret).get(ref.get("key", ""), "")
                break
        else:
            env[name] = ""
    return env


@dataclass
class PodView:
    status: Obj
    logs: list[str]
    ready: bool
    running: bool  # the container is running now (a log follower keeps following)
    waiting: str = ""  # the reason the container has not started, if it has not
    failure: tuple[str, str] | None = None  # (reason, message), as Knative would report it
    exit_code: int | None = None  # a job container's, once it finished


@dataclass
class PodSim:
    namespace: str
    name: str
    uid: str
    container: str
    image: str
    behaviour: str
    port: str
    ready_after: float
    born: float  # monotonic
    born_wall: float
    job: bool = False
    command: str = ""
    exit_code: int = 0
    env_names: list[str] = field(default_factory=list)
    init_names: list[str] = field(default_factory=list)
    kaniko: KanikoSim | None = None

    @classmethod
    def of(
        cls, store: Store, pod: Obj, *, ready_after: float, now: float, wall: float, job: bool
    ) -> PodSim:
        containers = pod.get("spec", {}).get("containers") or [{}]
        container = containers[0]
        env = resolve_env(store, pod["metadata"]["namespace"], container)
        argv = [
            str(part) for part in (container.get("command") or []) + (container.get("args") or [])
        ]
        code = EXIT_RE.search(argv[-1]) if argv else None
        image = container.get("image", "")
        kaniko = KanikoSim.of(store, pod, container) if job and is_kaniko(image) else None
        inits = pod.get("spec", {}).get("initContainers") or []
        return cls(
            namespace=pod["metadata"]["namespace"],
            name=pod["metadata"]["name"],
            uid=pod["metadata"]["uid"],
            container=container.get("name", "app"),
            image=container.get("image", ""),
            behaviour=env.get(BEHAVIOUR, "ready").strip().lower() or "ready",
            port=env.get("PORT", "8080"),
            ready_after=ready_after,
            born=now,
            born_wall=wall,
            job=job,
            command=" ".join(argv),
            exit_code=int(code.group(1)) if code else 0,
            env_names=sorted(env),
            init_names=[str(c.get("name", "")) for c in inits],
            kaniko=kaniko,
        )

    def view(self, now: float) -> PodView:
        t = max(now - self.born, 0.0)
        if "does-not-exist" in self.image:
            message = f'Back-off pulling image "{self.image}"'
            state = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
            return PodView(
                self._status("Pending", state, {}, ready=False),
                [],
                ready=False,
                running=False,
                waiting="ImagePullBackOff",
                failure=("ImagePullBackOff", message),
            )
        if self.kaniko is not None:
            return self._kaniko(self.kaniko, t)
        if self.job:
            return self._job(t)
        if self.behaviour in ("crashloop", "oom"):
            return self._crashloop(t)
        ready = self.behaviour != "never-ready" and t >= self.ready_after
        state = {"running": {"startedAt": rfc3339(self.born_wall)}}
        logs = [f"listening on :{self.port}"]
        return PodView(self._status("Running", state, {}, ready=ready), logs, ready, running=True)

    def _job(self, t: float) -> PodView:
        logs = [f"running: {self.command}", *self.env_names]
        started = rfc3339(self.born_wall)
        if self.behaviour == "hang" or t < JOB_RUNTIME:
            state = {"running": {"startedAt": started}}
            return PodView(self._status("Running", state, {}, ready=True), logs, True, True)
        reason = "Completed" if self.exit_code == 0 else "Error"
        terminated = {
            "exitCode": self.exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": rfc3339(self.born_wall + JOB_RUNTIME),
        }
        phase = "Succeeded" if self.exit_code == 0 else "Failed"
        status = self._status(phase, {"terminated": terminated}, {}, ready=False)
        return PodView(status, [*logs, "done"], False, False, exit_code=self.exit_code)

    def _kaniko(self, sim: KanikoSim, t: float) -> PodView:
        """A kaniko build (`kaniko.py`): runs at least JOB_RUNTIME, until its push ended."""
        started = rfc3339(self.born_wall)
        result = sim.result() if t >= JOB_RUNTIME else None
        logs = sim.logs(t >= JOB_RUNTIME)
        if result is None:
            state = {"running": {"startedAt": started}}
            return PodView(self._status("Running", state, {}, ready=True), logs, True, True)
        code, message = result
        terminated: Obj = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": rfc3339(max(self.born_wall + JOB_RUNTIME, sim.finished_wall)),
        }
        if message:
            terminated["message"] = message
        phase = "Succeeded" if code == 0 else "Failed"
        status = self._status(phase, {"terminated": terminated}, {}, ready=False)
        return PodView(status, logs, False, False, exit_code=code)

    def _crashloop(self, t: float) -> PodView:
        code, reason = (137, "OOMKilled") if self.behaviour == "oom" else (1, "Error")
        run = int(t // CRASH_PERIOD)
        in_run = t - run * CRASH_PERIOD < CRASH_AFTER
        crashes = run if in_run else run + 1
        last: Obj = {}
        if crashes:
            start = (crashes - 1) * CRASH_PERIOD
            last = {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": rfc3339(self.born_wall + start),
                    "finishedAt": rfc3339(self.born_wall + start + CRASH_AFTER),
                }
            }
        if in_run:
            state: Obj = {"running": {"startedAt": rfc3339(self.born_wall + run * CRASH_PERIOD)}}
        else:
            message = (
                f"back-off 10s restarting failed container={self.container} "
                f"pod={self.name}_{self.namespace}({self.uid})"
            )
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        status = self._status("Running", state, last, ready=False, restarts=crashes)
        failure = None
        if crashes:
            detail = CRASH_LINE if code == 1 else reason
            failure = (f"ExitCode{code}", f"Container failed with: {detail}")
        logs = [CRASH_LINE] * (run + 1)
        return PodView(status, logs, False, in_run, failure=failure)

    def _status(self, phase: str, state: Obj, last: Obj, *, ready: bool, restarts: int = 0) -> Obj:
        flag = "True" if ready else "False"
        unready = {
            "reason": "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady",
            "message": f"containers with unready status: [{self.container}]",
        }
        conditions: list[Obj] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
        ]
        for kind in ("ContainersReady", "Ready"):
            conditions.append({"type": kind, "status": flag, **({} if ready else unready)})
        number = int(self.uid.replace("-", "")[:8], 16)
        inits: Obj = {}
        if self.init_names:  # init containers (a build's clone) succeed at once
            done = {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(self.born_wall),
                    "finishedAt": rfc3339(self.born_wall)}  # fmt: skip
            inits["initContainerStatuses"] = [
                {
                    "name": name,
                    "ready": True,
                    "restartCount": 0,
                    "image": "",
                    "imageID": "",
                    "state": {"terminated": done},
                    "lastState": {},
                }
                for name in self.init_names
            ]
        return {
            **inits,
            "phase": phase,
            "conditions": conditions,
            "hostIP": "10.0.0.1",
            "podIP": f"10.244.{number % 250}.{number // 250 % 250 + 1}",
            "startTime": rfc3339(self.born_wall),
            "containerStatuses": [
                {
                    "name": self.container,
                    "ready": ready,
                    "started": "running" in state,
                    "restartCount": restarts,
                    "image": self.image,
                    "imageID": "",
                    "state": state,
                    "lastState": last,
                }
            ],
        }


def pending_status(container: Obj) -> Obj:
    """A pod's status the moment it is created."""
    return {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {
                "name": container.get("name", "app"),
                "ready": False,
                "started": False,
                "restartCount": 0,
                "image": container.get("image", ""),
                "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
        ],
    }
