from __future__ import annotations

import pytest

from slipway.domain.states import (
    TERMINAL,
    DeploymentStatus,
    can_transition,
    expect_for,
    sources_of,
)

S = DeploymentStatus

FORWARD = [
    (S.QUEUED, S.BUILDING),
    (S.BUILDING, S.DEPLOYING),
    (S.DEPLOYING, S.SUCCEEDED),
    (S.QUEUED, S.CANCELLED),
    (S.BUILDING, S.CANCELLED),
    (S.DEPLOYING, S.CANCELLED),
    (S.BUILDING, S.FAILED),
    (S.DEPLOYING, S.FAILED),
    (S.BUILDING, S.QUEUED),  # recovery takes a dead worker's build back
]


@pytest.mark.parametrize(("current", "target"), FORWARD)
def test_the_lifecycle_moves_forward(current: S, target: S) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(S))
def test_terminal_states_never_change(terminal: S, target: S) -> None:
    assert not can_transition(terminal, target)
    assert terminal.terminal and not terminal.active


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DEPLOYING, S.BUILDING),
        (S.DEPLOYING, S.QUEUED),
        (S.QUEUED, S.DEPLOYING),
        (S.QUEUED, S.SUCCEEDED),
        (S.BUILDING, S.SUCCEEDED),
    ],
)
def test_no_state_is_skipped_or_revisited(current: S, target: S) -> None:
    assert not can_transition(current, target)


def test_sources_are_the_inverse_of_transitions() -> None:
    assert sources_of(S.CANCELLED) == {S.QUEUED, S.BUILDING, S.DEPLOYING}
    assert sources_of(S.SUCCEEDED) == {S.DEPLOYING}
    assert sources_of(S.QUEUED) == {S.BUILDING}


def test_a_compare_and_set_expects_what_the_table_allows() -> None:
    assert expect_for(S.BUILDING, S.DEPLOYING) == {S.BUILDING}
    assert expect_for(S.DEPLOYING, S.FAILED) == {S.QUEUED, S.BUILDING, S.DEPLOYING}
    assert expect_for(S.DEPLOYING, S.DEPLOYING) == {S.DEPLOYING}  # a field, not a move
    with pytest.raises(ValueError, match="succeeded -> failed"):
        expect_for(S.SUCCEEDED, S.FAILED)
