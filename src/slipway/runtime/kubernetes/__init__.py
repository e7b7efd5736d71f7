"""Revisions on a Kubernetes cluster (docs/kubernetes.md): `KubernetesRuntime` (the runtime
port), `GatewayRoutes` (the router port, as Gateway API HTTPRoutes)."""

from slipway.runtime.kubernetes.api import KubeApi, load_connection
from slipway.runtime.kubernetes.gateway import GatewayRoutes
from slipway.runtime.kubernetes.manifests import ClusterSettings
from slipway.runtime.kubernetes.runtime import KubernetesRuntime

__all__ = ["ClusterSettings", "GatewayRoutes", "KubeApi", "KubernetesRuntime", "load_connection"]
