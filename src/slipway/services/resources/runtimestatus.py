"""Runtime status of one deployment's revision, in the shape of a Kubernetes Deployment's.

Phase (CONTRACT §5), decided in this order:
- `Failed`: the deployment failed (build, release command or health check), or it succeeded
  but its revision should run and none of its replicas is ready after a crash or failed start.
- `Pending`: the deployment is still queued, building or deploying and no replica is ready
  yet (there may be no revision yet); or it succeeded and its replicas are starting.
- `Stopped`: nothing should run: the deployment was cancelled, the app is scaled to 0, or
  the revision has neither traffic nor a tag any more (its replicas are drained and stopped).
- `Running`: at least one replica of the revision is ready.

`ready`/`total` are the runtime's counts for the revision (0/0 before it exists).

Conditions: `Available` is "True" exactly when the phase is `Running`. `Progressing` is "True"
while the deployment moves through the pipeline and once it has succeeded (as Kubernetes'
`NewReplicaSetAvailable`), "False" when it failed or was cancelled. `ContainerHealthy` (as
Knative's Revision) is "False" once a replica of the revision ended abnormally, with the
reason of the latest such end: `OOMKilled` (Kubernetes' word: the kernel killed it for
passing its memory limit) or `Error` (it exited or crashed), and "True" otherwise. An app
with `maxReplicas` also has `Autoscaled` (as an HPA's `ScalingActive`): reason `Stable` or
`Panic` with the replicas wanted and ready and the observed concurrency, or `Waiting` before
the first decision (or in a process that does not run the replicas). An app that scales to
zero (`maxReplicas` set, `minReplicas` 0) also has `Activation`: "False" with
`ActivationFailed` and the whole failure (the app's last lines included) when a request
could not start the revision, else "True" (`Activated` once a request started it, `OnDemand`
before). An app with custom domains also has `CertificateProvisioned` (as a Knative Route):
"True" when every domain's certificate is ready, "False" when one failed, "Unknown" while
one waits for DNS or is being issued; the message gives each hostname's state and reason.

`limits`: what each replica may use (memory, processes, CPU) and what enforces it (a cgroup,
or rlimits where the host has none), when the runtime knows. `lastTransitionTime`
moves only when a condition's status flips: `Transitions` (in memory, per deployment)
remembers since when each condition has shown its status; a condition seen for the first time
takes its time from the deployment's timestamps (`finishedAt` once terminal, else
`startedAt`, else `createdAt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slipway.domain.models import App, Deployment, Domain, TrafficSplit
from slipway.domain.replicacounts import share_replicas
from slipway.domain.revisionkeys import revision_key
from slipway.domain.states import DeploymentStatus as S
from slipway.ports import ReplicaLimits, ReplicaStatus, Runtime
from slipway.services.platform.handle import Activation, AutoscaleState
from slipway.services.platform.transitions import Transitions


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" or "False"
    reason: str
    message: str
    last_transition_time: datetime


@dataclass(frozen=True)
class RuntimeStatus:
    phase: str
    ready: int
    total: int
    conditions: list[Condition]
    limits: ReplicaLimits | None = None


_PROGRESS: dict[S, tuple[str, str, str]] = {
    S.QUEUED: ("True", "Queued", "The deployment waits for its turn to build."),
    S.BUILDING: ("True", "Building", "The image is being built."),
    S.DEPLOYING: ("True", "Deploying", "The revision's replicas are starting."),
    S.SUCCEEDED: ("True", "NewRevisionAvailable", "The revision was rolled out."),
    S.FAILED: ("False", "DeploymentFailed", "The deployment failed."),
    S.CANCELLED: ("False", "DeploymentCancelled", "The deployment was cancelled."),
}


def _replicas(runtime: Runtime, dep: Deployment) -> ReplicaStatus:
    if dep.revision_name is None:
        return ReplicaStatus(ready=0, total=0, backends=())
    return runtime.status(revision_key(dep.workspace_id, dep.app_id, dep.revision_name))


def _wanted(dep: Deployment, app: App, splits: Sequence[TrafficSplit]) -> bool:
    """Whether the revision of a succeeded deployment should have replicas now."""
    if dep.revision_name is None:
        return False
    return share_replicas(app.replicas, splits).get(dep.revision_name, 0) > 0


def _phase(dep: Deployment, app: App, splits: Sequence[TrafficSplit], rs: ReplicaStatus) -> str:
    if dep.status is S.FAILED:
        return "Failed"
    if dep.status is S.CANCELLED:
        return "Stopped"
    if dep.status is S.SUCCEEDED and not _wanted(dep, app, splits):
        return "Stopped"
    if rs.ready >= 1:
        return "Running"
    if dep.status is S.SUCCEEDED and rs.last_error:
        return "Failed"
    return "Pending"


def _available(phase: str, app: App, dep: Deployment, rs: ReplicaStatus) -> tuple[str, str, str]:
    if phase == "Running":
        return "True", "MinimumReplicasAvailable", f"{rs.ready} of {rs.total} replicas are ready."
    if phase == "Failed":
        return "False", "ReplicasFailed", dep.error or rs.last_error or "The replicas cannot start."
    if phase == "Stopped":
        if app.replicas == 0 and app.scales_to_zero:
            return "False", "ScaledToZero", "No request for a while: the next one starts it."
        if app.replicas == 0:
            return "False", "ScaledToZero", "The app is scaled to 0 replicas."
        return "False", "NotServing", "The revision has no traffic and no replicas."
    return "False", "ReplicasNotReady", "No replica is ready yet."


def _container(rs: ReplicaStatus) -> tuple[str, str, str]:
    if rs.last_reason:
        restarts = f" ({rs.restarts} restarts so far)" if rs.restarts else ""
        message = (rs.last_error or "A replica ended abnormally") + restarts
        return "False", rs.last_reason, message[:1].upper() + message[1:] + "."
    return "True", "Healthy", "No replica of the revision has ended abnormally."


def _autoscaled(app: App, state: AutoscaleState | None) -> tuple[str, str, str]:
    """For an app with `maxReplicas`: what the autoscaler wants and why."""
    if state is None:
        return (
            "True",
            "Waiting",
            "The autoscaler has not decided yet (it runs beside the replicas, every second).",
        )
    d = state.decision
    mode = "Panic" if d.panicking else "Stable"
    return (
        "True",
        mode,
        f"{d.desired} replicas wanted, {state.ready} ready, between {app.min_replicas} and "
        f"{app.max_replicas} ({d.reason}).",
    )


def _activation(dep: Deployment, activation: Activation | None) -> tuple[str, str, str]:
    if activation is None or activation.revision != dep.revision_name:
        return "True", "OnDemand", "At zero replicas, the next request starts the revision."
    when = activation.at.isoformat(timespec="seconds")
    if activation.failure is not None:
        return (
            "False",
            "ActivationFailed",
            f"A request at {when} could not start it: " + (activation.failure),
        )
    steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in activation.phases)
    total = sum(seconds for _, seconds in activation.phases)
    return "True", "Activated", f"A request started it at {when} in {total:.2f}s ({steps})."


def _certificates(domains: Sequence[Domain]) -> tuple[str, str, str]:
    """Knative's Route condition: every custom domain's certificate, in one line each."""
    lines = "; ".join(
        f"{d.hostname}: {d.status}" + (f" ({d.reason})" if d.reason else "") for d in domains
    )
    if any(d.status == "failed" for d in domains):
        return "False", "CertificateFailed", lines
    if all(d.status == "ready" for d in domains):
        return "True", "CertificatesReady", lines
    return "Unknown", "CertificatePending", lines


def _changed_at(dep: Deployment) -> datetime:
    if dep.status.terminal and dep.finished_at is not None:
        return dep.finished_at
    return dep.started_at or dep.created_at


def describe(
    runtime: Runtime,
    dep: Deployment,
    app: App,
    splits: Sequence[TrafficSplit],
    *,
    transitions: Transitions | None = None,
    autoscale: AutoscaleState | None = None,
    activation: Activation | None = None,
    domains: Sequence[Domain] = (),
) -> RuntimeStatus:
    rs = _replicas(runtime, dep)
    phase = _phase(dep, app, splits, rs)
    since = _changed_at(dep)
    clock = transitions or Transitions()

    def condition(kind: str, status: str, reason: str, message: str) -> Condition:
        when = clock.observe(dep.id, kind, status, since=since)
        return Condition(kind, status, reason, message, when)

    available = condition("Available", *_available(phase, app, dep, rs))
    status, reason, message = _PROGRESS[dep.status]
    if dep.status is S.FAILED and dep.error:
        message = dep.error
    progressing = condition("Progressing", status, reason, message)
    healthy = condition("ContainerHealthy", *_container(rs))
    conditions = [available, progressing, healthy]
    if app.max_replicas is not None:
        conditions.append(condition("Autoscaled", *_autoscaled(app, autoscale)))
    if app.scales_to_zero:
        conditions.append(condition("Activation", *_activation(dep, activation)))
    if domains:
        conditions.append(condition("CertificateProvisioned", *_certificates(domains)))
    return RuntimeStatus(
        phase=phase,
        ready=rs.ready,
        total=rs.total,
        conditions=conditions,
        limits=rs.limits,
    )
