"""Phases and conditions of a deployment's runtime status, one row per situation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.support.fakes import FakeRuntime

from slipway.domain.models import App, Deployment, TrafficSplit
from slipway.domain.states import DeploymentStatus as S
from slipway.ports import ReplicaStatus
from slipway.services.resources.runtimestatus import describe

T0 = datetime(2025, 4, 17, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 4, 17, 12, 0, 5, tzinfo=UTC)
T2 = datetime(2025, 4, 17, 12, 0, 57, tzinfo=UTC)


def app(replicas: int = 1) -> App:
    return App("app_1", "ws_1", "my-api", "https://e.com/r", T0, T0, replicas=replicas)


def dep(status: S, revision: str | None = "my-api-00001", error: str | None = None) -> Deployment:
    started = None if status is S.QUEUED else T1
    finished = T2 if status.terminal else None
    return Deployment(
        "dep_1", "ws_1", "app_1", status, T0, revision_name=revision, error=error,
        started_at=started, finished_at=finished,
    )  # fmt: skip


LIVE = [TrafficSplit("my-api-00001", 100)]
OTHER = [TrafficSplit("my-api-00002", 100)]
UP = ReplicaStatus(2, 2, ())
DOWN = ReplicaStatus(0, 1, (), restarts=3, last_error="the process exited with status 1.")
NONE = ReplicaStatus(0, 0, ())


@pytest.mark.parametrize(
    ("deployment", "the_app", "splits", "replicas", "phase"),
    [
        (dep(S.QUEUED, None), app(), [], NONE, "Pending"),
        (dep(S.BUILDING, None), app(), [], NONE, "Pending"),
        (dep(S.DEPLOYING), app(), [], NONE, "Pending"),
        (dep(S.DEPLOYING), app(), [], UP, "Running"),
        (dep(S.SUCCEEDED), app(), LIVE, UP, "Running"),
        (dep(S.SUCCEEDED), app(), LIVE, NONE, "Pending"),
        (dep(S.SUCCEEDED), app(), LIVE, DOWN, "Failed"),
        (dep(S.SUCCEEDED), app(0), LIVE, NONE, "Stopped"),
        (dep(S.SUCCEEDED), app(), OTHER, NONE, "Stopped"),
        (dep(S.FAILED, None, "the build failed."), app(), [], NONE, "Failed"),
        (dep(S.CANCELLED, None), app(), [], NONE, "Stopped"),
    ],
)
def test_phase(
    deployment: Deployment,
    the_app: App,
    splits: list[TrafficSplit],
    replicas: ReplicaStatus,
    phase: str,
) -> None:
    status = describe(FakeRuntime(replicas), deployment, the_app, splits)
    assert status.phase == phase
    assert (status.ready, status.total) == (
        (replicas.ready, replicas.total) if deployment.revision_name else (0, 0)
    )
    available, progressing, healthy = status.conditions
    kinds = (available.type, progressing.type, healthy.type)
    assert kinds == ("Available", "Progressing", "ContainerHealthy")
    assert available.status == ("True" if phase == "Running" else "False")
    assert healthy.status == "True"  # no replica here ended with a reason


def test_runtime_is_asked_about_the_revision_key() -> None:
    runtime = FakeRuntime(UP)
    describe(runtime, dep(S.SUCCEEDED), app(), LIVE)
    assert runtime.asked == ["ws_1/app_1/my-api-00001"]


def test_failed_deployment_explains_itself() -> None:
    status = describe(FakeRuntime(NONE), dep(S.FAILED, None, "the build failed."), app(), [])
    progressing = status.conditions[1]
    assert progressing.status == "False"
    assert progressing.reason == "DeploymentFailed"
    assert progressing.message == "the build failed."
    assert progressing.last_transition_time == T2


def test_transition_time_comes_from_the_deployment() -> None:
    queued = describe(FakeRuntime(NONE), dep(S.QUEUED, None), app(), [])
    building = describe(FakeRuntime(NONE), dep(S.BUILDING, None), app(), [])
    assert queued.conditions[0].last_transition_time == T0
    assert building.conditions[1].last_transition_time == T1


def test_last_transition_time_moves_only_when_a_condition_flips() -> None:
    from slipway.services.platform.transitions import Transitions

    clock = Transitions()
    running = FakeRuntime(ReplicaStatus(ready=1, total=1, backends=()))
    crashed = FakeRuntime(ReplicaStatus(ready=0, total=1, backends=(), last_error="exit 1"))
    succeeded = dep(S.SUCCEEDED)

    def times(runtime: FakeRuntime) -> dict[str, datetime]:
        rs = describe(runtime, succeeded, app(), LIVE, transitions=clock)
        return {c.type: c.last_transition_time for c in rs.conditions}

    first = times(running)
    assert first == {"Available": T2, "Progressing": T2, "ContainerHealthy": T2}
    assert times(running) == first  # asked again: nothing moved
    after_crash = times(crashed)
    assert after_crash["Available"] > T2  # Available flipped to False now
    assert after_crash["Progressing"] == T2  # Progressing did not change
    assert times(crashed) == after_crash


def test_an_out_of_memory_kill_is_a_condition_with_kubernetes_reason() -> None:
    oom = ReplicaStatus(
        ready=0,
        total=1,
        backends=(),
        restarts=2,
        last_error="the app was killed for using more than its 128 MiB of memory",
        last_reason="OOMKilled",
    )
    status = describe(FakeRuntime(oom), dep(S.SUCCEEDED), app(), LIVE)
    healthy = status.conditions[2]
    assert healthy.type == "ContainerHealthy"
    assert (healthy.status, healthy.reason) == ("False", "OOMKilled")
    assert "128 MiB" in healthy.message and "2 restarts" in healthy.message
    assert status.phase == "Failed"


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((("ready", None), ("ready", None)), ("True", "CertificatesReady")),
        ((("ready", None), ("pendingDns", "no record yet")), ("Unknown", "CertificatePending")),
        ((("issuing", None),), ("Unknown", "CertificatePending")),
        ((("ready", None), ("failed", "Pebble said no")), ("False", "CertificateFailed")),
    ],
)
def test_custom_domains_certificates_are_one_condition(
    states: tuple[tuple[str, str | None], ...], expected: tuple[str, str]
) -> None:
    from slipway.domain.models import Domain

    domains = [
        Domain(f"dom_{i}", "ws_1", "app_1", f"d{i}.example.com", T0, T0, status=s, reason=r)  # type: ignore[arg-type]
        for i, (s, r) in enumerate(states)
    ]
    status = describe(FakeRuntime(UP), dep(S.SUCCEEDED), app(), LIVE, domains=domains)
    condition = status.conditions[-1]
    assert condition.type == "CertificateProvisioned"
    assert (condition.status, condition.reason) == expected
    for i, (s, r) in enumerate(states):
        assert f"d{i}.example.com: {s}" + (f" ({r})" if r else "") in condition.message
    plain = describe(FakeRuntime(UP), dep(S.SUCCEEDED), app(), LIVE)
    assert all(c.type != "CertificateProvisioned" for c in plain.conditions)
