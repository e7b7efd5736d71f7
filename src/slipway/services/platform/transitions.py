"""When each runtime-status condition last changed, remembered in memory.

Kubernetes' `lastTransitionTime` moves only when a condition's `status` flips ("True" ⇄
"False"); a new `reason` or `message` with the same status is not a transition. Slipway
keeps, per deployment and condition type, the status it last reported and since when. The
first time a condition is seen in this process its time comes from the deployment's own
timestamps (the caller's `since`), so a restart of the platform does not make every condition
look new. Nothing here is stored: losing it costs only that precision.
"""

from __future__ import annotations

from datetime import datetime

from slipway.domain.models import utcnow


class Transitions:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[str, datetime]] = {}

    def observe(self, owner: str, kind: str, status: str, *, since: datetime) -> datetime:
        """The `lastTransitionTime` for condition `kind` of `owner` now showing `status`."""
        previous = self._seen.get((owner, kind))
        if previous is not None and previous[0] == status:
            return previous[1]
        when = since if previous is None else utcnow()
        self._seen[(owner, kind)] = (status, when)
        return when

    def forget(self, owner: str) -> None:
        for key in [k for k in self._seen if k[0] == owner]:
            del self._seen[key]
