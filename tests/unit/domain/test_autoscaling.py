"""The KPA-style decision, tick by tick: a burst panics at once, a steady load scales up at
most x2 a step, scale-down waits for the whole stable window, bounds always hold."""

from __future__ import annotations

import pytest

from slipway.domain.autoscaling import Bounds, Window, decide

B = Bounds(min_replicas=1, max_replicas=10, target=10)


def run(window: Window, loads: list[float], *, start: float = 0.0, ready_follows: bool = True,
        current: int = 1) -> list[int]:  # fmt: skip
    """Feed one sample a second; replicas become ready at once when `ready_follows`."""
    out = []
    ready = current
    for i, load in enumerate(loads):
        now = start + i
        window.add(now, load)
        d = decide(window, now, ready=ready, current=current, bounds=B)
        current = d.desired
        if ready_follows:
            ready = current
        out.append(current)
    return out


def test_a_burst_to_four_times_the_target_panics_at_once() -> None:
    w = Window(stable_seconds=60, panic_seconds=6)
    got = run(w, [5.0] * 60 + [40.0] * 3, ready_follows=False)
    assert got[59] == 1
    assert got[60] > 1  # the first tick after the step decides to scale up
    more = run(w, [40.0] * 3, start=63, current=got[-1], ready_follows=False)
    assert more[-1] >= 4  # what 40 concurrent need, within the 6 s panic window
    assert decide(w, 66, ready=1, current=more[-1], bounds=B).panicking


def test_out_of_panic_a_step_scales_up_at_most_twice_what_is_ready() -> None:
    w = Window(stable_seconds=60, panic_seconds=6)
    for t in range(54):  # a long high load, then a quiet panic window
        w.add(float(t), 60.0)
    for t in range(54, 60):
        w.add(float(t), 0.0)
    d = decide(w, 59.0, ready=1, current=1, bounds=B)  # e.g. after a manual scale to 1
    assert not d.panicking
    assert d.desired == 2  # the stable average wants 6


def test_scale_down_waits_for_the_whole_stable_window() -> None:
    w = Window(stable_seconds=20, panic_seconds=2)
    up = run(w, [50.0] * 25, current=1)
    assert up[-1] == 5
    down = run(w, [0.0] * 25, start=25, current=5)
    assert down[:3] == [5] * 3  # the average of the window comes down gradually
    assert down == sorted(down, reverse=True)  # never up again
    assert down.index(1) <= 20  # min_replicas once the stable window saw no load
    assert down[-1] == 1


def test_panic_never_scales_down_and_lasts_a_stable_window() -> None:
    w = Window(stable_seconds=10, panic_seconds=2)
    got = run(w, [0.0] * 10 + [80.0, 80.0] + [0.0] * 5, ready_follows=False)
    assert got[11] >= 8
    assert got[-1] == got[11]  # the burst stopped, panic holds


@pytest.mark.parametrize(("current", "expected"), [(0, 1), (12, 10), (3, 3)])
def test_the_bounds_always_hold(current: int, expected: int) -> None:
    w = Window(stable_seconds=4, panic_seconds=2)
    w.add(0.0, 25.0)
    d = decide(w, 0.0, ready=current, current=current, bounds=B)
    assert B.min_replicas <= d.desired <= B.max_replicas
    assert d.desired == max(expected, 1) or d.desired >= 3  # 25 concurrent: at least 3


def test_no_load_after_a_full_window_wants_the_minimum() -> None:
    w = Window(stable_seconds=5, panic_seconds=1)
    got = run(w, [0.0] * 8, current=4)
    assert got[-1] == 1
    assert "stable: 0.0 concurrent" in decide(w, 8, ready=1, current=1, bounds=B).reason


def test_a_step_to_forty_in_flight_wants_four_replicas_within_three_ticks() -> None:
    w = Window(stable_seconds=60, panic_seconds=6)
    run(w, [1.0] * 60)
    # the step lands mid-tick (half a tick of 40 in flight), then 40 every tick
    got = run(w, [20.0, 40.0, 40.0, 40.0], start=60, current=1)
    assert got[0] >= 2  # decided on the first tick after the step
    assert got[2] >= 4  # what 40 need at 10 each, two ticks later
