from __future__ import annotations

import pytest

from slipway.domain.states import TERMINAL, DeploymentStatus, can_transition, sources_of

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
        (S.BUILDING, S.QUEUED),
        (S.DEPLOYING, S.BUILDING),
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
    assert sources_of(S.QUEUED) == frozenset()
