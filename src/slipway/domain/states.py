"""The deployment state machine: queued -> building -> deploying -> succeeded|failed|cancelled.

`_ALLOWED` is the whole table; every status write is a compare-and-set whose expected
statuses come from it (`sources_of`, `expect_for`), so no code moves a deployment along an
edge the table lacks. One edge goes back: `building -> queued`, when recovery takes a build
back from a worker that died (`services/deploy/recovery.py`); it is re-built from its commit.
"""

from __future__ import annotations

from enum import StrEnum


class DeploymentStatus(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    DEPLOYING = "deploying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        return not self.terminal


TERMINAL = frozenset(
    {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
)

_ALLOWED: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.QUEUED: frozenset(
        {DeploymentStatus.BUILDING, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
    ),
    DeploymentStatus.BUILDING: frozenset(
        {
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.FAILED,
            DeploymentStatus.CANCELLED,
            DeploymentStatus.QUEUED,  # taken back from a dead worker
        }
    ),
    DeploymentStatus.DEPLOYING: frozenset(
        {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
    ),
    DeploymentStatus.SUCCEEDED: frozenset(),
    DeploymentStatus.FAILED: frozenset(),
    DeploymentStatus.CANCELLED: frozenset(),
}


def can_transition(current: DeploymentStatus, target: DeploymentStatus) -> bool:
    return target in _ALLOWED[current]


def sources_of(target: DeploymentStatus) -> frozenset[DeploymentStatus]:
    """Every state from which `target` may be entered (for compare-and-set updates)."""
    return frozenset(s for s, targets in _ALLOWED.items() if target in targets)


def expect_for(current: DeploymentStatus, target: DeploymentStatus) -> frozenset[DeploymentStatus]:
    """The statuses a compare-and-set writing `target` over a deployment read at `current`
    may find: `current` itself when the status does not change (a field of an active
    deployment), else every source of `target` in the table. ValueError for an edge the
    table lacks."""
    if current == target:
        return frozenset({current})
    if not can_transition(current, target):
        raise ValueError(f"no transition {current.value} -> {target.value}")
    return sources_of(target)
