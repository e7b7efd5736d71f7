"""Page numbers and sizes of list endpoints, checked the same way everywhere."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from slipway.domain.errors import FieldError

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit)


def page_problems(page: int, limit: int) -> list[FieldError]:
    errors = []
    if page < 1:
        errors.append(FieldError("page", "must be an integer of at least 1"))
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
    return errors


MAX_OFFSET = 2**31  # far past any real list, and within every database's integer range


def offset_of(page: int, limit: int) -> int:
    """The rows to skip; capped so that an absurd page is just past the end (empty)."""
    return min((page - 1) * limit, MAX_OFFSET)
