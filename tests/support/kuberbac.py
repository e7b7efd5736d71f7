"""Whether the RBAC rules Slipway ships (`runtime/kubernetes/rbac.yaml`) allow every request
it made: each (method, path) the fake API server saw becomes the (group, resource, verb)
the real API server would authorize, as its request-info resolver does."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

import slipway.runtime.kubernetes

RBAC = Path(slipway.runtime.kubernetes.__file__).parent / "rbac.yaml"


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc]


def _rules() -> list[dict[str, Any]]:
    (role,) = [doc for doc in documents() if doc["kind"] == "ClusterRole"]
    return list(role["rules"])


def attributes(method: str, target: str) -> list[tuple[str, str, str]]:
    """(group, resource, verb) needed for one request; [] for discovery and /version."""
    url = urlsplit(target)
    parts = [p for p in url.path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = parts[1], parts[3:]
    else:
        return []
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return []
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    watch = parse_qs(url.query).get("watch", [""])[0] in ("1", "true")
    if method == "GET":
        verb = ("watch" if watch else "list") if len(rest) == 1 else "get"
        return [(group, resource, verb)]
    if method == "PATCH":  # a server-side apply creates what is not there
        return [(group, resource, "patch"), (group, resource, "create")]
    return [(group, resource, {"DELETE": "delete", "POST": "create", "PUT": "update"}[method])]


def unauthorized(requests: Iterable[tuple[str, str]]) -> list[str]:
    rules = _rules()
    refused = set()
    for method, target in requests:
        for group, resource, verb in attributes(method, target):
            if not any(
                group in rule["apiGroups"] and resource in rule["resources"]
                and verb in rule["verbs"]
                for rule in rules
            ):  # fmt: skip
                refused.add(f"{verb} {group or 'core'}/{resource} ({method} {target})")
    return sorted(refused)
