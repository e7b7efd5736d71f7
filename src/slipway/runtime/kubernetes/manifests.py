"""The objects Slipway writes to a cluster, as pure functions of what it knows (Knative's
`resources/` in spirit: no I/O here, a snapshot test reads every one).

One namespace per workspace (`{prefix}{workspace id}`), under the `restricted` Pod Security
profile, with a NetworkPolicy that admits only the ingress gateway's namespaces. Per
revision: a Secret of its env (never inline in a manifest), a Deployment and a Service; the
Deployment owns the other two, so deleting it cleans them up. Per app: an HTTPRoute per host
(the app's host carries the split; each tag's host and custom domain its own target) and,
with maxReplicas, a HorizontalPodAutoscaler on the revision serving most of the traffic.
Every object carries the labels below. Owner references: a revision's Deployment owns its
Service, its env Secret and the HPA that scales it; the namespaces, the app's HTTPRoutes and
its Knative Service are roots that Slipway deletes itself (by label, with the app).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slipway.domain.names import parse_revision_name
from slipway.domain.revisionkeys import parse_revision_key
from slipway.domain.routes import Route
from slipway.ports import RevisionSpec

MANAGED_BY = "app.kubernetes.io/managed-by"
WORKSPACE = "slipway.dev/workspace"
APP = "slipway.dev/app"
REVISION = "slipway.dev/revision"
ROLE = "slipway.dev/role"  # "replica" or "release"
MANAGED = f"{MANAGED_BY}=slipway"

CONTAINER = "app"
APP_PORT = 8080  # $PORT inside the pod, as on the local runtime
SERVICE_PORT = 80
DEFAULT_MEMORY_MB = 512
DEFAULT_CPU = "1"  # the limit; the request is a tenth of it
TERMINATION_GRACE_SECONDS = 30
PRESTOP_SLEEP_SECONDS = 5  # endpoints leave the gateway before the app sees SIGTERM
HPA_CPU_PERCENT = 80


@dataclass(frozen=True)
class ClusterSettings:
    namespace_prefix: str = "slipway-"
    registry: str = ""  # where the builder pushes: the image's pull host
    gateway_name: str = "slipway"
    gateway_namespace: str = "slipway-gateway"
    ingress_namespaces: tuple[str, ...] = ("slipway-gateway",)  # what may reach the pods


def namespace_name(settings: ClusterSettings, workspace_id: str) -> str:
    return f"{settings.namespace_prefix}{workspace_id.replace('_', '-')}"[:63]


def workspace_and_app(revision_key: str) -> tuple[str, str] | None:
    """(workspace id, app name) of a revision key: the app's name from the revision's
    (`{app}-{NNNNN}`), which names the app's objects."""
    key = parse_revision_key(revision_key)
    named = parse_revision_name(key.revision) if key else None
    return (key.workspace_id, named[0]) if key and named else None


def labels(
    spec_or_ids: RevisionSpec | tuple[str, str], revision: str | None = None
) -> dict[str, str]:
    if isinstance(spec_or_ids, RevisionSpec):
        ws, app, revision = spec_or_ids.workspace_id, spec_or_ids.app_id, spec_or_ids.revision
    else:
        ws, app = spec_or_ids
    out = {MANAGED_BY: "slipway", WORKSPACE: ws, APP: app}
    if revision is not None:
        out[REVISION] = revision
    return out


def owner(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An ownerReferences list naming `obj` (as the API server returned it, with its uid)."""
    meta = obj["metadata"]
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _meta(
    name: str, ns: str, lbl: Mapping[str, str], owners: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(lbl)}
    if owners:
        meta["ownerReferences"] = [dict(o) for o in owners]
    return meta


def _app_meta(settings: ClusterSettings, spec: RevisionSpec) -> dict[str, Any]:
    """An app's own object (its HPA, its Knative Service): named like the app."""
    ids = (spec.workspace_id, spec.app_id)
    return _meta(spec.app_name, namespace_name(settings, spec.workspace_id), labels(ids))


# --------------------------------------------------------------------------- workspace


def namespace(settings: ClusterSettings, workspace_id: str, workspace_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace_name(settings, workspace_id),
            "labels": {
                MANAGED_BY: "slipway",
                WORKSPACE: workspace_id,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
            "annotations": {"slipway.dev/workspace-name": workspace_name},
        },
    }


def network_policy(settings: ClusterSettings, workspace_id: str) -> dict[str, Any]:
    """Only the gateway reaches the workspace's pods: not other tenants' pods, not the
    workspace's own release jobs or each other (a pod that needs another app goes through
    its public host, as on the local runtime)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "slipway-ingress-only",
            "namespace": namespace_name(settings, workspace_id),
            "labels": {MANAGED_BY: "slipway", WORKSPACE: workspace_id},
        },
        "spec": {
            "podSelector": {"matchLabels": {MANAGED_BY: "slipway"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/metadata.name",
                                        "operator": "In",
                                        "values": list(settings.ingress_namespaces),
                                    }
                                ]
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": APP_PORT}],
                }
            ],
        },
    }


# --------------------------------------------------------------------------- revision


def env_secret_name(revision: str) -> str:
    return f"{revision}-env"


def env_secret(
    settings: ClusterSettings, spec: RevisionSpec, owners: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(spec.env.items())}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            env_secret_name(spec.revision),
            namespace_name(settings, spec.workspace_id),
            labels(spec),
            owners,
        ),
        "type": "Opaque",
        "data": data,
    }


def image_ref(settings: ClusterSettings, spec: RevisionSpec) -> str:
    """Pinned by digest: a tag can move, a revision's image cannot."""
    return f"{settings.registry}/{spec.workspace_name}/{spec.app_name}@{spec.image_digest}"


def _resources(spec: RevisionSpec) -> dict[str, Any]:
    memory = f"{spec.memory_mb or DEFAULT_MEMORY_MB}Mi"
    return {
        "requests": {"cpu": "100m", "memory": memory},
        "limits": {"cpu": DEFAULT_CPU, "memory": memory},
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(settings: ClusterSettings, spec: RevisionSpec, command: str) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": image_ref(settings, spec),
        # The user's command, run by the image's own shell inside the pod (a Procfile line).
        "command": ["/bin/sh", "-c", command],
        "env": [{"name": "PORT", "value": str(APP_PORT)}],
        "envFrom": [{"secretRef": {"name": env_secret_name(spec.revision)}}],
        "resources": _resources(spec),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - the pod's own emptyDir
    }


def _pod_spec(
    settings: ClusterSettings, spec: RevisionSpec, container: dict[str, Any]
) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
    }


def _probe(spec: RevisionSpec) -> dict[str, Any]:
    if spec.health_check_path:
        return {
            "httpGet": {"path": spec.health_check_path, "port": APP_PORT},
            "periodSeconds": 2,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        }
    return {"tcpSocket": {"port": APP_PORT}, "periodSeconds": 2, "failureThreshold": 3}


def deployment(
    settings: ClusterSettings, spec: RevisionSpec, replicas: int | None
) -> dict[str, Any]:
    """`replicas` None leaves the count to whoever owns it (the app's HPA)."""
    lbl = labels(spec)
    container = _container(settings, spec, spec.start_command)
    container["ports"] = [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}]
    container["readinessProbe"] = _probe(spec)
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}}
    pod = _pod_spec(settings, spec, container)
    pod["terminationGracePeriodSeconds"] = TERMINATION_GRACE_SECONDS
    body: dict[str, Any] = {
        "selector": {"matchLabels": lbl},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "revisionHistoryLimit": 2,
        "template": {"metadata": {"labels": {**lbl, ROLE: "replica"}}, "spec": pod},
    }
    if replicas is not None:
        body = {"replicas": replicas, **body}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec.revision, namespace_name(settings, spec.workspace_id), lbl),
        "spec": body,
    }


def service(
    settings: ClusterSettings, spec: RevisionSpec, owners: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    lbl = labels(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec.revision, namespace_name(settings, spec.workspace_id), lbl, owners),
        "spec": {
            "type": "ClusterIP",
            "selector": {**lbl, ROLE: "replica"},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": APP_PORT, "protocol": "TCP"}
            ],
        },
    }


def hpa(
    settings: ClusterSettings,
    spec: RevisionSpec,
    bounds: tuple[int, int],
    owners: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The app's autoscaler, on this revision's Deployment, which owns it (it goes with
    the revision it scales). Kubernetes' HPA cannot scale to zero: minReplicas 0 becomes 1
    (docs/kubernetes.md)."""
    low, high = bounds
    meta = _app_meta(settings, spec)
    if owners:
        meta["ownerReferences"] = [dict(o) for o in owners]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": spec.revision,
            },
            "minReplicas": max(low, 1),
            "maxReplicas": max(high, low, 1),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": HPA_CPU_PERCENT},
                    },
                }
            ],
        },
    }


def release_job(
    settings: ClusterSettings, spec: RevisionSpec, *, name: str, command: str, timeout: float
) -> dict[str, Any]:
    lbl = labels(spec)
    pod = _pod_spec(settings, spec, _container(settings, spec, command))
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            name, namespace_name(settings, spec.workspace_id), {**lbl, ROLE: "release"}
        ),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(int(timeout), 1),
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": {**lbl, ROLE: "release"}}, "spec": pod},
        },
    }


# --------------------------------------------------------------------------- routes


def route_names(app_name: str, hosts: Sequence[str]) -> list[str]:
    """The HTTPRoute of each host: the app's own (the first) is named like the app, a tag's
    host `{app}.tag-{tag}`, a custom domain `{app}.domain-{hash}`. App names have no dots,
    so no name of one app's routes can be another app's."""
    names = [app_name]
    tag_suffix = f"---{hosts[0]}" if hosts else ""
    for host in hosts[1:]:
        digest = hashlib.sha256(host.encode()).hexdigest()[:10]
        name = f"{app_name}.domain-{digest}"
        if host.endswith(tag_suffix):
            name = f"{app_name}.tag-{host.removesuffix(tag_suffix)}"
        names.append(name)
    return names


def http_routes(
    settings: ClusterSettings,
    *,
    workspace_id: str,
    app_id: str,
    app_name: str,
    routes: Sequence[Route],
) -> list[dict[str, Any]]:
    """One HTTPRoute per host: Gateway API selects a route by hostname, and a rule cannot
    (matching the Host header is not portable), so a tag's host is a route of its own."""
    out = []
    ns = namespace_name(settings, workspace_id)
    names = route_names(app_name, [route.host for route in routes])
    for name, route in zip(names, routes, strict=True):
        refs = []
        for target in route.targets:
            parsed = parse_revision_key(target.revision)
            if parsed is None:
                continue
            refs.append(
                {
                    "group": "",
                    "kind": "Service",
                    "name": parsed.revision,
                    "port": SERVICE_PORT,
                    "weight": target.weight,
                }
            )
        if not refs:
            continue
        out.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {
                    **_meta(name, ns, labels((workspace_id, app_id))),
                    "annotations": {"slipway.dev/host": route.host},
                },
                "spec": {
                    "parentRefs": [
                        {
                            "group": "gateway.networking.k8s.io",
                            "kind": "Gateway",
                            "name": settings.gateway_name,
                            "namespace": settings.gateway_namespace,
                        }
                    ],
                    "hostnames": [route.host],
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": refs,
                        }
                    ],
                },
            }
        )
    return out


# --------------------------------------------------------------------------- Knative

KNATIVE_PORT_NAME = "http1"  # Knative's name for an HTTP/1 container port


def knative_service(
    settings: ClusterSettings,
    spec: RevisionSpec,
    *,
    replicas: int,
    traffic: Sequence[Mapping[str, Any]] | None,
    target_concurrency: int = 10,
) -> dict[str, Any]:
    """One Knative Service per app: its template is the newest revision (named as Slipway
    names it, so the Knative Revision has the same name) with its scale bounds, and its
    traffic block the split and the tags. Knative sets `$PORT` and forbids setting it, and
    takes pod-level security settings only behind a feature flag: they are on the container.
    `traffic` None: Knative's default (the latest ready revision, 100%)."""
    container = {
        "name": CONTAINER,
        "image": image_ref(settings, spec),
        "command": ["/bin/sh", "-c", spec.start_command],
        "envFrom": [{"secretRef": {"name": env_secret_name(spec.revision)}}],
        "ports": [{"name": KNATIVE_PORT_NAME, "containerPort": APP_PORT}],
        "resources": _resources(spec),
        "securityContext": {
            **_container_security(),
            "runAsUser": 10001,
            "runAsGroup": 10001,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - the pod's emptyDir
    }
    if spec.health_check_path:
        container["readinessProbe"] = {"httpGet": {"path": spec.health_check_path}}
    low, high = spec.autoscale if spec.autoscale is not None else (replicas, replicas)
    annotations = {
        "autoscaling.knative.dev/min-scale": str(low),
        "autoscaling.knative.dev/max-scale": str(max(high, low, 1)),
        "autoscaling.knative.dev/initial-scale": str(max(low, 1)),
        "autoscaling.knative.dev/target": str(target_concurrency),
    }
    body: dict[str, Any] = {
        "template": {
            "metadata": {
                "name": spec.revision,
                "labels": {**labels(spec), ROLE: "replica"},
                "annotations": annotations,
            },
            "spec": {
                "enableServiceLinks": False,
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
            },
        },
    }
    if traffic is not None:
        body["traffic"] = [dict(entry) for entry in traffic]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": _app_meta(settings, spec),
        "spec": body,
    }


def knative_traffic(routes: Sequence[Route]) -> list[dict[str, Any]] | None:
    """The split of the app's host (the first route) and a 0% entry per tag's host; None
    while the app has no split (Knative routes to its latest revision)."""
    if not routes or not routes[0].targets:
        return None
    out: list[dict[str, Any]] = []
    for target in routes[0].targets:
        key = parse_revision_key(target.revision)
        if key is not None:
            out.append({"revisionName": key.revision, "percent": target.weight})
    tag_suffix = f"---{routes[0].host}"
    for route in routes[1:]:
        if not route.host.endswith(tag_suffix) or len(route.targets) != 1:
            continue  # a custom domain: a DomainMapping's business (docs/kubernetes.md)
        key = parse_revision_key(route.targets[0].revision)
        if key is not None:
            tag = route.host.removesuffix(tag_suffix)
            out.append({"revisionName": key.revision, "percent": 0, "tag": tag})
    return out
