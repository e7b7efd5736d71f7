"""Every object the Kubernetes runtime writes, checked against the API server's schemas
(three Kubernetes minor versions, strict; Gateway API's CRD) and against the rules the
issue sets: restricted pods, env only in Secrets, labels and owners, the split as weights."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.support.kuberbac import attributes, documents, unauthorized
from tests.support.kubeschemas import assert_valid, problems

from slipway.domain.routes import Backend, Route, Target
from slipway.ports import RevisionSpec
from slipway.runtime.kubernetes import manifests as m

SETTINGS = m.ClusterSettings(registry="registry.example:5000")
SPEC = RevisionSpec(
    key="ws_01abc/app_01def/my-api-00005",
    workspace_id="ws_01abc",
    app_id="app_01def",
    revision="my-api-00005",
    app_dir="/unused",
    start_command="node server.js",
    env={"DATABASE_URL": "postgres://u:hunter2@db/app", "MODE": "production"},
    health_check_path="/healthz",
    memory_mb=256,
    image_digest="sha256:" + "a" * 64,
    workspace_name="acme",
    app_name="my-api",
)
OWNER = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "my-api-00005", "uid": "7d3c0b8e-0000-4000-8000-000000000001"},
}


def every_manifest() -> list[dict[str, Any]]:
    owners = m.owner(OWNER)
    routes = [
        Route(
            "my-api.acme.example.com",
            (
                Target("ws_01abc/app_01def/my-api-00004", 10, (Backend("10.0.0.1", 8080),)),
                Target("ws_01abc/app_01def/my-api-00005", 90, (Backend("10.0.0.2", 8080),)),
            ),
        ),
        Route(
            "canary---my-api.acme.example.com",
            (Target("ws_01abc/app_01def/my-api-00005", 100, ()),),
        ),
    ]
    return [
        m.namespace(SETTINGS, SPEC.workspace_id, SPEC.workspace_name),
        m.network_policy(SETTINGS, SPEC.workspace_id),
        m.env_secret(SETTINGS, SPEC, owners),
        m.deployment(SETTINGS, SPEC, 2),
        m.deployment(SETTINGS, SPEC, None),
        m.service(SETTINGS, SPEC, owners),
        m.hpa(SETTINGS, SPEC, (0, 5), owners),
        m.release_job(
            SETTINGS,
            SPEC,
            name="my-api-00005-release-abc123",
            command="python manage.py migrate",
            timeout=600,
        ),
        *m.http_routes(
            SETTINGS,
            workspace_id=SPEC.workspace_id,
            app_id=SPEC.app_id,
            app_name="my-api",
            routes=routes,
        ),
    ]


@pytest.mark.parametrize(
    "manifest", every_manifest(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}"
)
def test_every_manifest_is_valid_for_three_kubernetes_versions(manifest: dict[str, Any]) -> None:
    assert_valid(manifest)


def test_the_validator_catches_a_misspelt_field() -> None:
    broken = m.deployment(SETTINGS, SPEC, 1)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert any("readinesProbe" in p for p in problems(broken))


def test_no_env_value_is_inline_in_any_manifest_but_its_secret() -> None:
    for manifest in every_manifest():
        text = json.dumps(manifest)
        if manifest["kind"] == "Secret":
            data = manifest["data"]
            assert base64.b64decode(data["DATABASE_URL"]).decode() == SPEC.env["DATABASE_URL"]
            continue
        assert "hunter2" not in text and "production" not in text


def test_pods_meet_the_restricted_pod_security_profile() -> None:
    for manifest in (
        m.deployment(SETTINGS, SPEC, 1),
        m.release_job(SETTINGS, SPEC, name="x", command="true", timeout=5),
    ):
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert container["resources"]["limits"]["memory"] == "256Mi"
        assert container["image"] == "registry.example:5000/acme/my-api@sha256:" + "a" * 64


def test_the_namespace_enforces_restricted_and_only_the_gateway_reaches_pods() -> None:
    ns = m.namespace(SETTINGS, SPEC.workspace_id, "acme")
    assert ns["metadata"]["name"] == "slipway-ws-01abc"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policy = m.network_policy(SETTINGS, SPEC.workspace_id)["spec"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchExpressions"][0]["values"] == ["slipway-gateway"]


def test_readiness_comes_from_the_health_check_path_else_the_port() -> None:
    probe = m.deployment(SETTINGS, SPEC, 1)["spec"]["template"]["spec"]["containers"][0]
    assert probe["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    bare = RevisionSpec(**{**SPEC.__dict__, "health_check_path": None})
    probe = m.deployment(SETTINGS, bare, 1)["spec"]["template"]["spec"]["containers"][0]
    assert probe["readinessProbe"]["tcpSocket"] == {"port": 8080}


def test_the_split_is_the_backend_weights_and_a_tag_host_has_its_own_route() -> None:
    objs = [o for o in every_manifest() if o["kind"] == "HTTPRoute"]
    main, tag = objs
    assert main["metadata"]["name"] == "my-api"
    assert main["spec"]["hostnames"] == ["my-api.acme.example.com"]
    refs = main["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("my-api-00004", 10), ("my-api-00005", 90)]
    assert tag["spec"]["hostnames"] == ["canary---my-api.acme.example.com"]
    assert tag["metadata"]["name"] == "my-api.tag-canary"  # no app name has a dot
    assert [(r["name"], r["weight"]) for r in tag["spec"]["rules"][0]["backendRefs"]] == [
        ("my-api-00005", 100)
    ]
    for obj in objs:
        assert obj["metadata"]["labels"][m.APP] == "app_01def"


def test_every_object_carries_the_labels_and_revision_objects_their_owner() -> None:
    for manifest in every_manifest():
        lbl = manifest["metadata"]["labels"]
        assert lbl[m.MANAGED_BY] == "slipway" and lbl[m.WORKSPACE] == "ws_01abc"
        if manifest["kind"] in ("Secret", "Service", "HorizontalPodAutoscaler"):
            (ref,) = manifest["metadata"]["ownerReferences"]
            assert ref["kind"] == "Deployment" and ref["uid"].startswith("7d3c0b8e")


def test_an_hpa_never_asks_for_zero_replicas() -> None:
    spec = m.hpa(SETTINGS, SPEC, (0, 3))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["scaleTargetRef"]["name"] == "my-api-00005"


def test_the_shipped_rbac_manifests_are_valid() -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
    }  # fmt: skip
    for doc in docs:
        assert_valid(doc)


def test_the_rbac_check_reads_requests_as_the_api_server_does() -> None:
    assert attributes("GET", "/api/v1/pods?watch=1&labelSelector=x") == [("", "pods", "watch")]
    assert attributes("GET", "/api/v1/namespaces/ns/pods/p/log?follow=true") == [
        ("", "pods/log", "get")
    ]
    assert attributes("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d?force=true") == [
        ("apps", "deployments", "patch"),
        ("apps", "deployments", "create"),
    ]
    assert attributes("GET", "/apis/serving.knative.dev/v1") == []
    assert unauthorized([("GET", "/api/v1/namespaces/ns/secrets/s")]) == [
        "get core/secrets (GET /api/v1/namespaces/ns/secrets/s)"
    ]  # Slipway never reads a Secret
