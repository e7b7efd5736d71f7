"""Smooth weighted round-robin (nginx's algorithm), exact over every window of sum(weights).

Each pick adds every item's weight to its current value, takes the item with the largest
current value (the first one on ties) and subtracts the total weight from it. The sequence
is periodic with period sum(weights) and each item appears exactly `weight` times per
period, so any `sum(weights)` consecutive picks contain each item exactly `weight` times, and
the picks of one item are spread out rather than bunched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class SmoothWRR(Generic[T]):
    __slots__ = ("_current", "_items", "_total", "_weights")

    def __init__(self, weighted: Sequence[tuple[T, int]]) -> None:
        pairs = [(item, weight) for item, weight in weighted if weight > 0]
        self._items: list[T] = [item for item, _ in pairs]
        self._weights: list[int] = [weight for _, weight in pairs]
        self._current: list[int] = [0] * len(pairs)
        self._total = sum(self._weights)

    def continue_from(self, other: SmoothWRR[T]) -> None:
        """Carry on `other`'s sequence where it stands (same weights, in the same order)."""
        if other._weights == self._weights:
            self._current = list(other._current)

    def __len__(self) -> int:
        return len(self._items)

    def pick(self) -> T:
        """The next item; IndexError when there is none."""
        current = self._current
        weights = self._weights
        best = 0
        best_value = None
        for i in range(len(current)):
            value = current[i] + weights[i]
            current[i] = value
            if best_value is None or value > best_value:
                best, best_value = i, value
        current[best] -= self._total
        return self._items[best]
