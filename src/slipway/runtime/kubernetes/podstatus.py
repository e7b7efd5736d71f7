"""A revision's replicas as the cluster reports them: readiness from each pod's `Ready`
condition, restarts and the latest failure from its container statuses, in the words
Kubernetes uses (`OOMKilled`, `CrashLoopBackOff`, `ImagePullBackOff`) with its messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slipway.domain.routes import Backend
from slipway.ports import ReplicaLimits, ReplicaStatus

# Waiting reasons that mean the pod will not start by waiting longer.
STUCK = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})  # fmt: skip


def is_ready(pod: dict[str, Any]) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("status", {}).get("containerStatuses") or [])


def failure(pod: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, one sentence) for the pod's latest failure, if it has one."""
    for cs in containers(pod):
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated")
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if last and last.get("reason") == "OOMKilled":
            return (
                "OOMKilled",
                "the app was killed for using more than its memory limit (OOMKilled)",
            )
        if reason == "CrashLoopBackOff" and last:
            code = last.get("exitCode")
            return "CrashLoopBackOff", (
                f"the app exited with status {code}; Kubernetes restarts it with a back-off "
                f"(CrashLoopBackOff: {waiting.get('message', '')})".replace(": )", ")")
            )
        if reason in STUCK:
            return str(reason), f"{reason}: {waiting.get('message', 'the container cannot start')}"
        terminated = state.get("terminated")
        if terminated and terminated.get("reason") == "OOMKilled":
            return (
                "OOMKilled",
                "the app was killed for using more than its memory limit (OOMKilled)",
            )
    return None


def replica_status(
    pods: Iterable[dict[str, Any]], *, limits: ReplicaLimits | None, port: int
) -> ReplicaStatus:
    pods = list(pods)
    ready = [p for p in pods if is_ready(p)]
    failures = [f for p in pods if (f := failure(p)) is not None]
    return ReplicaStatus(
        ready=len(ready),
        total=len(pods),
        backends=tuple(
            Backend(str(p.get("status", {}).get("podIP") or p["metadata"]["name"]), port)
            for p in ready
        ),
        restarts=sum(int(cs.get("restartCount", 0)) for p in pods for cs in containers(p)),
        last_error=failures[-1][1] if failures else None,
        last_reason=failures[-1][0] if failures else None,
        limits=limits,
    )
