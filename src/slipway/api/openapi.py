"""The OpenAPI document as the API really answers.

FastAPI documents a 422 `HTTPValidationError` that Slipway never sends; every error is an
RFC 9457 problem (`slipway.api.problems`). `install` replaces that with one `4XX` response of
media type `application/problem+json` on every operation under the base path, documents the
optional `Idempotency-Key` header of every POST (CONTRACT §2), and declares the Bearer
scheme. Schemathesis checks the answers against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from slipway.api.problems import MEDIA_TYPE
from slipway.api.schemas import Problem

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Same key and body within 24 h: the first answer again, nothing new made.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _problem_responses() -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"4XX": {"description": "A problem", "content": {MEDIA_TYPE: {"schema": schema}}}}


def _patch_operation(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    responses.update(_problem_responses())
    if method == "post":
        params = operation.setdefault("parameters", [])
        if not any(p.get("name") == "Idempotency-Key" for p in params):
            params.append(dict(IDEMPOTENCY_HEADER))


def document(app: FastAPI, base_path: str) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    for name, sub in schemas["Problem"].pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in doc.get("paths", {}).items():
        if path.startswith(base_path):
            for method, operation in item.items():
                _patch_operation(method, operation)
    return doc


def install(app: FastAPI, base_path: str) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, base_path)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
