"""Validate Kubernetes manifests against the schemas the API server would apply.

Built-in kinds (Namespace, Secret, Deployment, Service, HorizontalPodAutoscaler, NetworkPolicy,
Job, ...) are checked against the official OpenAPI schemas shipped by `kubernetes-validate`, in
strict mode (unknown fields are errors), for every version in `KUBERNETES_VERSIONS`. Knative
`serving.knative.dev/v1` Service and Gateway API `gateway.networking.k8s.io/v1` HTTPRoute are
checked against their CRD schemas (tests/fixtures/crds/), made strict the way the API server's
`fieldValidation=Strict` is, and their `metadata` against the Kubernetes ObjectMeta schema.

`kubernetes_validate.validate()` stops at the first error; `problems()` loads the same schema files
with the same validator (Draft 2020-12 with a `referencing` registry) and collects every error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import kubernetes_validate.utils  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource

KUBERNETES_VERSIONS: tuple[str, ...] = ("1.35.0", "1.36.0", "1.37.0")

CRD_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "crds"

# (apiVersion, kind) -> the fixture holding the CRD's openAPIV3Schema for that version.
CRD_SCHEMAS: dict[tuple[str, str], str] = {
    ("serving.knative.dev/v1", "Service"): "knative-serving-v1.23.0-service-v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway-api-v1.6.1-httproute-v1.json",
}

_MAX_MESSAGE = 300
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# The keywords whose values are schemas (or lists / maps of schemas) in OpenAPI v3 structural
# schemas; everything else (enum, default, example, ...) is data and must not be rewritten.
_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_SCHEMA_KEYWORDS = ("items", "additionalProperties", "not", "additionalItems")


def problems(manifest: dict[str, Any]) -> list[str]:
    """Every schema problem of one manifest, `"<schema>: <path>: <message>"`; [] when valid."""
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"no schema for {api_version} {kind}"]
    fixture = CRD_SCHEMAS.get((api_version, kind))
    if fixture is not None:
        return _custom_resource_problems(manifest, fixture)
    return _builtin_problems(manifest, api_version, kind)


def assert_valid(manifest: dict[str, Any]) -> None:
    """Raise AssertionError listing every schema problem of `manifest`, naming its kind and name."""
    found = problems(manifest)
    if found:
        metadata = manifest.get("metadata")
        name = "<unnamed>"
        if isinstance(metadata, dict):
            name = str(metadata.get("name") or metadata.get("generateName") or name)
        listing = "\n  ".join(found)
        raise AssertionError(
            f"{manifest.get('apiVersion')} {manifest.get('kind')} {name!r} is not valid:\n"
            f"  {listing}"
        )


# -- built-in kinds: kubernetes-validate ------------------------------------------------------


def _builtin_problems(manifest: dict[str, Any], api_version: str, kind: str) -> list[str]:
    found: list[str] = []
    missing: list[str] = []
    for version in KUBERNETES_VERSIONS:
        validator = _builtin_validator(version, api_version, kind)
        if validator is None:
            missing.append(version)
            continue
        found.extend(f"v{version}: {line}" for line in _describe(validator.iter_errors(manifest)))
    if len(missing) == len(KUBERNETES_VERSIONS):
        return [f"no schema for {api_version} {kind}"]
    found.extend(f"v{version}: no schema for {api_version} {kind}" for version in missing)
    return found


@functools.cache
def _builtin_validator(version: str, api_version: str, kind: str) -> Any | None:
    """The validator `kubernetes_validate.validate(..., version, strict=True)` would use."""
    if version not in kubernetes_validate.utils.all_versions():
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    if not _KIND.fullmatch(kind):
        return None
    # Same file naming as kubernetes_validate.utils.validate: the API group loses its domain,
    # e.g. rbac.authorization.k8s.io/v1 -> rbac-v1; the core group is plain v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    if "/" in group_version or ".." in group_version:
        return None
    schema_dir = _schema_dir(version)
    try:
        schema = kubernetes_validate.utils.schema_contents(
            f"{schema_dir}/{kind.lower()}-{group_version}.json", version
        )
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ _definitions(version)
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _schema_dir(version: str) -> str:
    return f"kubernetes-json-schema/v{version}-local-strict"


@functools.cache
def _definitions(version: str) -> Registry[Any]:
    contents = kubernetes_validate.utils.schema_contents(
        f"{_schema_dir(version)}/_definitions.json", version
    )
    registry: Registry[Any] = Resource.from_contents(contents) @ Registry()
    return registry


# -- custom resources: CRD schemas --------------------------------------------------------------


def _custom_resource_problems(manifest: dict[str, Any], fixture: str) -> list[str]:
    label = fixture.removesuffix(".json")
    found = [
        f"{label}: {line}" for line in _describe(_crd_validator(fixture).iter_errors(manifest))
    ]
    if "metadata" in manifest:
        # The API server validates a custom resource's metadata as ObjectMeta (and drops or, with
        # fieldValidation=Strict, rejects unknown fields), whatever the CRD schema says.
        as_config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}
        found.extend(_builtin_problems(as_config_map, "v1", "ConfigMap"))
    return found


@functools.cache
def _crd_validator(fixture: str) -> Any:
    schema = json.loads((CRD_DIR / fixture).read_text(encoding="utf-8"))
    strict = _strict(schema)
    jsonschema.validators.Draft7Validator.check_schema(strict)
    return jsonschema.validators.Draft7Validator(strict)


def _strict(node: Any) -> Any:
    """An OpenAPI v3 structural schema as a JSON Schema that rejects unknown fields.

    `nullable: true` becomes a "null" type; other `x-kubernetes-*` keys (CEL validations, list
    types, ...) are dropped. An object schema with `properties`, no `additionalProperties` and no
    `x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`: the fields
    the API server would prune, and report under fieldValidation=Strict.
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [_strict(sub) for sub in value]
        elif key in _SCHEMA_KEYWORDS:
            out[key] = (
                [_strict(sub) for sub in value] if isinstance(value, list) else _strict(value)
            )
        else:
            out[key] = value
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and node.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        out["additionalProperties"] = False
    return out


# -- reporting ------------------------------------------------------------------------------------


def _describe(errors: Iterable[Any]) -> list[str]:
    lines: list[str] = []
    for error in errors:
        lines.extend(_lines(error))
    return sorted(set(lines))


def _lines(error: Any) -> Iterator[str]:
    path = list(error.absolute_path)
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(error.instance, dict)
    ):
        # One line per unknown field, the field named in the path.
        known = error.schema.get("properties", {})
        patterns = list(error.schema.get("patternProperties", {}))
        for key in error.instance:
            if key in known or any(re.search(pattern, key) for pattern in patterns):
                continue
            yield f"{_path([*path, key])}: Additional properties are not allowed"
        return
    message = str(error.message)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    yield f"{_path(path)}: {message}"


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(part)}]"
    return text or "<root>"
