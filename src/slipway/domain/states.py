"""The deployment state machine: queued -> building -> deploying -> succeeded|failed|cancelled."""

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
        {DeploymentStatus.DEPLOYING, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
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
