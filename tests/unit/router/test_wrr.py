"""The smooth weighted round-robin is exact over every window of sum(weights) picks."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from slipway.router.wrr import SmoothWRR


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=6))
def test_every_window_is_exact(weights: list[int]) -> None:
    total = sum(weights)
    wrr = SmoothWRR(list(enumerate(weights)))
    if total == 0:
        assert len(wrr) == 0
        return
    picks = [wrr.pick() for _ in range(3 * total)]
    expected = {i: w for i, w in enumerate(weights) if w > 0}
    for start in range(len(picks) - total + 1):
        assert Counter(picks[start : start + total]) == expected


def test_ten_ninety_is_spread_out() -> None:
    wrr = SmoothWRR([("a", 10), ("b", 90)])
    picks = [wrr.pick() for _ in range(100)]
    positions = [i for i, p in enumerate(picks) if p == "a"]
    assert len(positions) == 10
    assert max(b - a for a, b in itertools.pairwise(positions)) <= 10
