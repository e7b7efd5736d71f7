"""lastTransitionTime moves only when a condition's status flips."""

from __future__ import annotations

from datetime import UTC, datetime

from slipway.services.platform.transitions import Transitions

EARLY = datetime(2025, 4, 17, 12, 0, tzinfo=UTC)


def test_first_sight_uses_the_given_time_and_same_status_keeps_it() -> None:
    clock = Transitions()
    assert clock.observe("dep_1", "Available", "False", since=EARLY) == EARLY
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert clock.observe("dep_1", "Available", "False", since=later) == EARLY


def test_a_flip_is_stamped_now_and_then_stays() -> None:
    clock = Transitions()
    clock.observe("dep_1", "Available", "False", since=EARLY)
    flipped = clock.observe("dep_1", "Available", "True", since=EARLY)
    assert flipped > EARLY
    assert clock.observe("dep_1", "Available", "True", since=EARLY) == flipped
    assert clock.observe("dep_1", "Progressing", "True", since=EARLY) == EARLY  # its own type


def test_forget_drops_one_owner() -> None:
    clock = Transitions()
    clock.observe("dep_1", "Available", "True", since=EARLY)
    clock.forget("dep_1")
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert clock.observe("dep_1", "Available", "False", since=later) == later
