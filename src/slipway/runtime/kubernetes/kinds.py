"""The object kinds Slipway writes and reads, and where each lives in the API server's URL
space (`/api/v1/...` for the core group, `/apis/{group}/{version}/...` for the others)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    api_version: str  # "v1", "apps/v1", ...
    kind: str
    plural: str
    namespaced: bool = True

    def _prefix(self) -> str:
        return (
            f"/api/{self.api_version}"
            if "/" not in self.api_version
            else (f"/apis/{self.api_version}")
        )

    def collection(self, namespace: str | None = None) -> str:
        """The list (and watch) path: one namespace's, or every namespace's with None."""
        if self.namespaced and namespace is not None:
            return f"{self._prefix()}/namespaces/{namespace}/{self.plural}"
        return f"{self._prefix()}/{self.plural}"

    def path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection(namespace)}/{name}"

    def of(self, obj: dict[str, Any]) -> bool:
        return obj.get("apiVersion") == self.api_version and obj.get("kind") == self.kind


NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
SECRET = Kind("v1", "Secret", "secrets")
SERVICE = Kind("v1", "Service", "services")
POD = Kind("v1", "Pod", "pods")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
JOB = Kind("batch/v1", "Job", "jobs")
HTTP_ROUTE = Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
KNATIVE_SERVICE = Kind("serving.knative.dev/v1", "Service", "services")
KNATIVE_REVISION = Kind("serving.knative.dev/v1", "Revision", "revisions")

KINDS = (
    NAMESPACE,
    SECRET,
    SERVICE,
    POD,
    DEPLOYMENT,
    HPA,
    NETWORK_POLICY,
    JOB,
    HTTP_ROUTE,
    KNATIVE_SERVICE,
    KNATIVE_REVISION,
)


def kind_of(obj: dict[str, Any]) -> Kind:
    for kind in KINDS:
        if kind.of(obj):
            return kind
    raise ValueError(f"Slipway does not write {obj.get('apiVersion')} {obj.get('kind')}")
