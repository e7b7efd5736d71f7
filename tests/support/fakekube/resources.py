"""The resource kinds the fake API server knows, Status bodies, label selectors, time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import string
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    key: str  # the store key and the name `FakeCluster.objects` takes ("knative.Service")
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How the API server names the resource in messages: `deployments.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACE = Resource("Namespace", "Namespace", "", "v1", "namespaces", namespaced=False)
SECRET = Resource("Secret", "Secret", "", "v1", "secrets")
SERVICE = Resource("Service", "Service", "", "v1", "services")
POD = Resource("Pod", "Pod", "", "v1", "pods")
CONFIGMAP = Resource("ConfigMap", "ConfigMap", "", "v1", "configmaps")
DEPLOYMENT = Resource("Deployment", "Deployment", "apps", "v1", "deployments")
HPA = Resource(
    "HorizontalPodAutoscaler", "HorizontalPodAutoscaler", "autoscaling", "v2",
    "horizontalpodautoscalers",
)  # fmt: skip
NETWORKPOLICY = Resource(
    "NetworkPolicy", "NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies"
)
HTTPROUTE = Resource("HTTPRoute", "HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes")
JOB = Resource("Job", "Job", "batch", "v1", "jobs")
KSERVICE = Resource("knative.Service", "Service", "serving.knative.dev", "v1", "services")
REVISION = Resource("Revision", "Revision", "serving.knative.dev", "v1", "revisions")

KUBE = (NAMESPACE, SECRET, SERVICE, POD, CONFIGMAP, DEPLOYMENT, HPA, NETWORKPOLICY, HTTPROUTE, JOB)
KNATIVE = (KSERVICE, REVISION)
BY_KEY = {res.key: res for res in (*KUBE, *KNATIVE)}

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(
    code: int, message: str, reason: str | None = None, details: Obj | None = None
) -> Obj:
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def not_found(res: Resource, name: str) -> Obj:
    details = {"name": name, "group": res.group, "kind": res.plural}
    return status_body(404, f'{res.qualified} "{name}" not found', "NotFound", details)


def rfc3339(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def suffix(length: int = 5) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def digest(value: Any, length: int = 10) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# Label selectors: equality terms (`k=v`, `k==v`, `k!=v`) and existence (`k`, `!k`).
Selector = list[tuple[str, str, str]]


def parse_selector(text: str | None) -> Selector:
    terms: Selector = []
    for raw in (text or "").split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append(("!=", key.strip(), value.strip()))
        elif "=" in term:
            key, value = term.replace("==", "=", 1).split("=", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif term.startswith("!"):
            terms.append(("!exists", term[1:].strip(), ""))
        elif " " in term or "(" in term:
            raise ValueError(f"unable to parse requirement: {term!r} (fakekube: unsupported)")
        else:
            terms.append(("exists", term, ""))
    return terms


def matches(selector: Selector, labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    for op, key, value in selector:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!exists" and key in labels:
            return False
    return True


def meta(obj: Obj) -> Obj:
    found = obj.setdefault("metadata", {})
    assert isinstance(found, dict)
    return found


def owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or [])


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition_true(obj: Obj, kind: str) -> bool | None:
    """True/False for a condition's status, None when absent or Unknown."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return {"True": True, "False": False}.get(cond.get("status", ""))
    return None


def with_transitions(previous: list[Obj] | None, conditions: list[Obj], wall: float) -> list[Obj]:
    """Stamps lastTransitionTime, kept from the previous condition of the type when its
    status did not change (so that an unchanged status compares equal)."""
    before = {cond.get("type"): cond for cond in previous or []}
    stamped = []
    for cond in conditions:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"]
        when = old.get("lastTransitionTime") if same and old else rfc3339(wall)
        stamped.append({**cond, "lastTransitionTime": when})
    return stamped
