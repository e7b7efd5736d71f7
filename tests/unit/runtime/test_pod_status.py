"""Pods as the cluster reports them -> a revision's ReplicaStatus (Kubernetes' own words
for a failure, with its message), in the manner of Knative's table tests."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.runtime.kubernetes.podstatus import failure, replica_status


def pod(*, ready: bool, state: dict[str, Any], last: dict[str, Any] | None = None,
        restarts: int = 0, ip: str = "10.0.0.7") -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {"name": "web-00001-x1y2z"},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{
                "name": "app", "ready": ready, "restartCount": restarts,
                "state": state, "lastState": {"terminated": last} if last else {},
            }],
        },
    }  # fmt: skip


RUNNING = {"running": {"startedAt": "2026-12-02T10:00:00Z"}}
CRASH = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting"}}

CASES = [
    ("ready", pod(ready=True, state=RUNNING), None, None),
    ("starting", pod(ready=False, state=RUNNING), None, None),
    (
        "crash loop",
        pod(ready=False, state=CRASH, last={"exitCode": 1, "reason": "Error"}, restarts=3),
        "CrashLoopBackOff",
        "the app exited with status 1; Kubernetes restarts it with a back-off "
        "(CrashLoopBackOff: back-off 10s restarting)",
    ),
    (
        "oom killed",
        pod(ready=False, state=CRASH, last={"exitCode": 137, "reason": "OOMKilled"}, restarts=1),
        "OOMKilled",
        "the app was killed for using more than its memory limit (OOMKilled)",
    ),
    (
        "image pull",
        pod(ready=False, state={"waiting": {"reason": "ImagePullBackOff",
                                            "message": 'Back-off pulling image "r/x@sha256:1"'}}),
        "ImagePullBackOff",
        'ImagePullBackOff: Back-off pulling image "r/x@sha256:1"',
    ),
    (
        "no secret",
        pod(ready=False, state={"waiting": {"reason": "CreateContainerConfigError",
                                            "message": 'secret "web-00001-env" not found'}}),
        "CreateContainerConfigError",
        'CreateContainerConfigError: secret "web-00001-env" not found',
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "given", "reason", "sentence"), CASES, ids=[c[0] for c in CASES])
def test_a_pods_failure_in_kubernetes_words(
    name: str, given: dict[str, Any], reason: str | None, sentence: str | None
) -> None:
    assert failure(given) == ((reason, sentence) if reason else None)


def test_a_revisions_status_counts_ready_pods_restarts_and_the_latest_failure() -> None:
    pods = [
        pod(ready=True, state=RUNNING, ip="10.0.0.1"),
        pod(ready=False, state=CRASH, last={"exitCode": 137, "reason": "OOMKilled"}, restarts=2),
        {**pod(ready=True, state=RUNNING), "metadata": {"name": "gone",
                                                        "deletionTimestamp": "now"}},
    ]  # fmt: skip
    status = replica_status(pods, limits=None, port=8080)
    assert (status.ready, status.total, status.restarts) == (1, 3, 2)
    assert [(b.host, b.port) for b in status.backends] == [("10.0.0.1", 8080)]
    assert status.last_reason == "OOMKilled"
