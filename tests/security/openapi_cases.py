"""Requests generated from the app's own OpenAPI document, filled with another tenant's ids.

`operations()` lists every operation of `create_app(...).openapi()`; `Operation.request(...)`
builds its path, query and a schema-valid JSON body in which every id-like field (path,
query or body, at any depth) holds the victim's id. A parameter this module cannot fill
fails the test that meets it, so a new kind of id is noticed, not skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.security.tenants import Tenant, h

from slipway.api import create_app
from slipway.services.platform import Platform

# Which of a tenant's objects an id-like name refers to; several values are tried in turn.
ID_VALUES: dict[str, Callable[[Tenant], list[str]]] = {
    "appId": lambda t: [t.app_id],
    "deployId": lambda t: [t.queued_id, t.succeeded_id],
    "deploymentId": lambda t: [t.queued_id, t.succeeded_id],
    "keyId": lambda t: [t.key_id],
    "revisionName": lambda t: [t.revision_name],
    "domain": lambda t: [t.domain_id, t.hostname],  # by id or by hostname
}
VARIANTS = 2


class UnknownParameter(Exception):
    """An id-like path parameter the generator does not know how to fill."""


def document() -> dict[str, Any]:
    offline = Platform(
        store=None,  # type: ignore[arg-type]
        source=None,  # type: ignore[arg-type]
        builder=h.null_builder(),
        runtime=h.null_runtime(),
        router=h.null_router(),
    )
    return create_app(offline).openapi()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    components: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    def body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return self.resolve(schema) if schema else None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def names(self) -> set[str]:
        """Every parameter and body property name, at any depth."""
        found = {p["name"] for p in self.spec.get("parameters", [])}
        schema = self.body_schema()
        if schema is not None:
            found |= self._property_names(schema, depth=0)
        return found

    def _property_names(self, schema: dict[str, Any], *, depth: int) -> set[str]:
        schema = self.resolve(schema)
        if depth > 5:
            return set()
        out: set[str] = set()
        for sub in schema.get("anyOf", []) + schema.get("allOf", []):
            out |= self._property_names(sub, depth=depth + 1)
        if "items" in schema:
            out |= self._property_names(schema["items"], depth=depth + 1)
        for name, prop in schema.get("properties", {}).items():
            out.add(name)
            out |= self._property_names(prop, depth=depth + 1)
        return out

    @property
    def carries_ids(self) -> bool:
        return bool(self.names() & ID_VALUES.keys()) or any(
            p["name"] != "wsId" for p in self.params("path")
        )

    @property
    def workspace_scoped(self) -> bool:
        return any(p["name"] == "wsId" for p in self.params("path"))

    def request(self, *, ws_id: str, victim: Tenant, variant: int) -> dict[str, Any]:
        """`method`, `url`, `params` and `json` for httpx, with the victim's ids."""
        url = self.path
        for p in self.params("path"):
            value = ws_id if p["name"] == "wsId" else _id(p["name"], victim, variant)
            url = url.replace("{" + p["name"] + "}", value)
        query = {
            p["name"]: _id(p["name"], victim, variant)
            for p in self.params("query")
            if p["name"] in ID_VALUES
        }
        body = self.body_schema()
        json = _Filler(self, victim, variant).value(body, name="") if body else None
        return {"method": self.method, "url": url, "params": query, "json": json}


def _id(name: str, victim: Tenant, variant: int) -> str:
    if name not in ID_VALUES:
        raise UnknownParameter(
            f"the isolation test does not know which object {{{name}}} names: add it to "
            "tests/security/openapi_cases.py ID_VALUES"
        )
    values = ID_VALUES[name](victim)
    return values[min(variant, len(values) - 1)]


@dataclass(frozen=True)
class _Filler:
    """A schema-valid value: required properties and id-like ones, nothing else."""

    op: Operation
    victim: Tenant
    variant: int

    def value(self, schema: dict[str, Any], *, name: str) -> Any:
        schema = self.op.resolve(schema)
        if name in ID_VALUES:
            return _id(name, self.victim, self.variant)
        branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if branches:
            return self.value(branches[0], name=name)
        kind = schema.get("type", "object")
        if "enum" in schema:
            return schema["enum"][0]
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return [self.value(schema.get("items", {}), name=name)]
        return _scalar(kind, schema, name)

    def _object(self, schema: dict[str, Any]) -> dict[str, Any]:
        props = schema.get("properties", {})
        wanted = set(schema.get("required", [])) | (props.keys() & ID_VALUES.keys())
        wanted |= {n for n, p in props.items() if self._holds_ids(p)}
        return {n: self.value(props[n], name=n) for n in props if n in wanted}

    def _holds_ids(self, schema: dict[str, Any]) -> bool:
        return bool(self.op._property_names(schema, depth=0) & ID_VALUES.keys())


def _scalar(kind: str, schema: dict[str, Any], name: str) -> Any:
    if kind == "integer" or kind == "number":
        if name == "percent":
            return 100
        low = schema.get("minimum", 1)
        return min(max(low, 1), schema.get("maximum", max(low, 1)))
    if kind == "boolean":
        return False
    return "x"


def operations() -> Iterator[Operation]:
    doc = document()
    components = doc.get("components", {}).get("schemas", {})
    for path, item in doc["paths"].items():
        for method, spec in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield Operation(method.upper(), path, spec, components)
