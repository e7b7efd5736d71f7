"""Revisions on a Kubernetes cluster (docs/kubernetes.md): `KubernetesRuntime` (the runtime
port: Deployments) and `GatewayRoutes` (the router port: Gateway API HTTPRoutes), or, where
Knative Serving is installed, `KnativeRuntime` and `KnativeRoutes` over one Knative Service
per app (`KnativeApps`)."""

from slipway.runtime.kubernetes.api import KubeApi, load_connection
from slipway.runtime.kubernetes.gateway import GatewayRoutes
from slipway.runtime.kubernetes.knative import (
    KnativeApps,
    KnativeRoutes,
    KnativeRuntime,
    knative_installed,
)
from slipway.runtime.kubernetes.manifests import ClusterSettings
from slipway.runtime.kubernetes.runtime import KubernetesRuntime

__all__ = [
    "ClusterSettings",
    "GatewayRoutes",
    "KnativeApps",
    "KnativeRoutes",
    "KnativeRuntime",
    "KubeApi",
    "KubernetesRuntime",
    "knative_installed",
    "load_connection",
]
