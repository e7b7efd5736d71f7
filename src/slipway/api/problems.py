"""Every error the API answers is an RFC 9457 problem (`application/problem+json`).

- `DomainError`s keep their status and detail (their messages are safe to show);
  `Invalid` adds `errors: [{field, message}]`.
- FastAPI's request validation becomes 422 with the camelCase field names, except a body
  that is not JSON, not an object or absent: 400.
- Unknown routes are 404 and wrong methods 405 (with `Allow`).
- `DeployFailed` out of a request (the git cache could not be prepared) is 503.
- Anything else is a 500 problem that says nothing of the cause; the log gets the
  exception's type and traceback but not its message, which might hold a secret.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.domain.errors import DeployFailed, DomainError, FieldError, Invalid, TooBusy

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    408: "Request timeout",
    413: "Content too large",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_BODY_SHAPE_ERRORS = frozenset(
    {"json_invalid", "model_type", "model_attributes_type", "dict_type", "missing", "json_type"}
)


class ApiProblem(Exception):
    """Raised by the API layer itself (authentication) to answer a problem."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else []
    return ".".join(parts) or "body"


def _is_body_shape(error: dict[str, Any]) -> bool:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        return True
    return loc == ("body",) and error.get("type") in _BODY_SHAPE_ERRORS


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    raw = list(exc.errors())
    if any(_is_body_shape(e) for e in raw):
        return problem(400, "The request body must be a JSON object.")
    errors = [FieldError(_field_name(e.get("loc", ())), _message(e)) for e in raw]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem(422, detail, errors=errors)


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "is not a known field"
    if error.get("type") == "missing":
        return "is required"
    return str(error.get("msg", "is not valid"))


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    errors = exc.errors if isinstance(exc, Invalid) else None
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooBusy) else None
    return problem(exc.status, exc.detail, title=exc.title, errors=errors, headers=headers)


async def _on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem(exc.status, exc.detail, headers=exc.headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_response(exc)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route answers on this path (Starlette names only the first's)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = {
        400: "The request body must be a JSON object.",
        404: "No such resource.",
        405: "Method not allowed on this resource.",
    }
    text = detail.get(exc.status_code) or _TITLES.get(exc.status_code, "Error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, text, headers=headers)


async def _on_deploy_failed(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, str(exc))


class CatchAll:
    """ASGI middleware: an exception nothing else handled becomes a bare 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error(
                "unhandled %s on %s %s\n%s",
                type(exc).__name__,
                scope.get("method"),
                scope.get("path"),
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if started:
                raise
            response = problem(500, "The server could not answer this request.")
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(DeployFailed, _on_deploy_failed)
    app.add_middleware(CatchAll)
