"""tests/support/kubeschemas.py: manifests checked against Kubernetes and CRD schemas."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
from tests.support.kubeschemas import KUBERNETES_VERSIONS, assert_valid, problems


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "slipway-demo", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.local/web:abc123",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "PORT", "value": "8080"}],
                            "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}},
                        }
                    ]
                },
            },
        },
    }


def http_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "slipway-demo"},
        "spec": {
            "parentRefs": [{"name": "slipway", "namespace": "slipway-system"}],
            "hostnames": ["web.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "web-r1", "port": 80, "weight": 90},
                        {"name": "web-r2", "port": 80, "weight": 10},
                    ],
                }
            ],
        },
    }


def knative_service() -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "slipway-demo", "labels": {"app": "web"}},
        "spec": {
            "template": {
                "metadata": {
                    "name": "web-r2",
                    "annotations": {"autoscaling.knative.dev/max-scale": "5"},
                },
                "spec": {
                    "containers": [
                        {
                            "image": "registry.local/web:def456",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "GREETING", "value": "hi"}],
                        }
                    ]
                },
            },
            "traffic": [
                {"revisionName": "web-r1", "percent": 90, "tag": "previous"},
                {"revisionName": "web-r2", "percent": 10, "tag": "current"},
            ],
        },
    }


def test_a_valid_deployment_passes_every_kubernetes_version() -> None:
    assert problems(deployment()) == []
    assert_valid(deployment())
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(deployment(), version, strict=True)


def test_an_unknown_container_field_fails_naming_it_for_every_version() -> None:
    manifest = deployment()
    manifest["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    found = problems(manifest)
    assert found == [
        f"v{version}: spec.template.spec.containers[0].bogus: Additional properties are not allowed"
        for version in KUBERNETES_VERSIONS
    ]
    with pytest.raises(AssertionError, match=r"Deployment 'web'[\s\S]*containers\[0\]\.bogus"):
        assert_valid(manifest)


def test_every_error_is_collected_and_kubernetes_validate_agrees() -> None:
    manifest = deployment()
    manifest["spec"]["replicas"] = "two"
    manifest["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    manifest["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "x"
    found = [line for line in problems(manifest) if line.startswith("v1.37.0: ")]
    assert len(found) == 3, found
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    assert any(caught.value.message in line for line in found)


def test_a_weighted_http_route_passes() -> None:
    assert problems(http_route()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda route: route["spec"]["rules"][0]["backendRefs"][0].update(weight=-1),
            "spec.rules[0].backendRefs[0].weight: -1 is less than the minimum of 0",
        ),
        (
            lambda route: route["spec"]["rules"][0]["backendRefs"][1].update(percent=10),
            "spec.rules[0].backendRefs[1].percent: Additional properties are not allowed",
        ),
        (
            lambda route: route["spec"].update(bogus=1),
            "spec.bogus: Additional properties are not allowed",
        ),
        (
            lambda route: route["metadata"].update(bogus=1),
            "v1.36.0: metadata.bogus: Additional properties are not allowed",
        ),
    ],
)
def test_an_invalid_http_route_fails(change: Any, expected: str) -> None:
    route = http_route()
    change(route)
    found = problems(route)
    assert any(line.endswith(expected) for line in found), found


def test_a_knative_service_with_a_revision_template_and_traffic_passes() -> None:
    assert problems(knative_service()) == []


def test_an_unknown_field_in_a_knative_service_fails() -> None:
    service = knative_service()
    service["spec"]["bogus"] = 1
    container = service["spec"]["template"]["spec"]["containers"][0]
    container["bogus"] = 1
    service["spec"]["traffic"][0]["weight"] = 90
    assert problems(service) == [
        "knative-serving-v1.23.0-service-v1: spec.bogus: Additional properties are not allowed",
        "knative-serving-v1.23.0-service-v1: "
        "spec.template.spec.containers[0].bogus: Additional properties are not allowed",
        "knative-serving-v1.23.0-service-v1: "
        "spec.traffic[0].weight: Additional properties are not allowed",
    ]


def test_knative_template_metadata_is_open_but_wrong_types_fail() -> None:
    service = knative_service()
    service["spec"]["template"]["metadata"]["anything"] = "kept"  # preserve-unknown-fields
    assert problems(service) == []
    broken = copy.deepcopy(service)
    broken["spec"]["traffic"][0]["percent"] = "90"
    assert problems(broken) == [
        "knative-serving-v1.23.0-service-v1: spec.traffic[0].percent: '90' is not of type 'integer'"
    ]


@pytest.mark.parametrize(
    "manifest",
    [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": {"name": "r"}},
        {"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "n"}},
        {"kind": "ConfigMap"},
    ],
)
def test_an_unknown_kind_fails(manifest: dict[str, Any]) -> None:
    assert problems(manifest) == [f"no schema for {manifest.get('apiVersion')} {manifest['kind']}"]
    with pytest.raises(AssertionError, match="no schema for"):
        assert_valid(manifest)


def test_the_other_builtin_kinds_slipway_writes_have_schemas() -> None:
    meta = {"name": "web", "namespace": "slipway-demo"}
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "slipway-demo"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"K": "v"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "build", "image": "busybox"}],
                    }
                }
            },
        },
    ]
    for manifest in manifests:
        assert problems(manifest) == [], manifest["kind"]
