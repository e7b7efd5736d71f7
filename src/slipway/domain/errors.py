"""Errors the domain and the services raise. The API maps each one to a status code."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error a user can cause. Its message is safe to show to that user."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """Unknown object, or an object of another workspace: existence never leaks."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The object exists but its state forbids the request."""

    status = 409
    title = "Conflict"


class TooBusy(DomainError):
    """This workspace asks for too much at once (HTTP 429); `retry_after` seconds to wait."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unreachable(DomainError):
    """A server the request needs (a git server) did not answer in time (HTTP 504)."""

    status = 504
    title = "Gateway timeout"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class Invalid(DomainError):
    """One or more fields break their rules (HTTP 422)."""

    status = 422
    title = "Validation failed"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors: list[FieldError] = errors or []

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(f"{name}: {message}", [FieldError(name, message)])


def raise_if(errors: list[FieldError]) -> None:
    """Invalid listing every problem found, when there is any."""
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise Invalid(detail, errors)


class DeployFailed(Exception):
    """A build, release command or health check failed. The message is the deployment's
    `error`: one sentence, safe to show (no secret values)."""
