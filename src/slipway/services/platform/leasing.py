"""Who this process is to the others, and how long its claims hold.

Every process has one `PROCESS_ID` (host, pid and a random part: a restarted process is a
new owner, so nothing it held before a crash looks alive). A worker holds a lease on every
deployment it runs and renews it every third of `LEASE_SECONDS`; the reconciler of any
process takes back deployments whose lease expired (`services/deploy/recovery.py`).

`LeaseSettings` is what bootstrap passes (and keeps on `Platform.leases`): this process's
owner id and the lease length (`SLIPWAY_LEASE_SECONDS`). `Leadership` says whether this
process runs replicas (then it also takes rollouts handed over by builders and rollbacks
posted to other processes): `Platform.owns_replicas`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field

from slipway.ports import NamedLeases

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
REPLICAS_LEASE = "replicas"  # the named lease of the process that runs every replica


def _process_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


PROCESS_ID = _process_id()


@dataclass(frozen=True)
class LeaseSettings:
    owner: str = field(default=PROCESS_ID)
    lease_seconds: float = LEASE_SECONDS

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3


class Leadership:
    """The `replicas` lease: among processes with the worker role, the one holding it runs
    every replica (and takes rollouts); the others only build. On SQLite (one process) it
    is always held."""

    def __init__(self, store: NamedLeases, leases: LeaseSettings, *, always: bool) -> None:
        self._store = store
        self._leases = leases
        self._always = always
        self._held = always

    def holds(self) -> bool:
        return self._held

    async def renew(self) -> bool:
        if not self._always:
            held = await self._store.lead(
                REPLICAS_LEASE, owner=self._leases.owner, lease_seconds=self._leases.lease_seconds
            )
            if self._held and not held:
                log.error("lost the replicas lease; another process runs replicas now")
            self._held = held
        return self._held

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._leases.renew_every)
            try:
                await self.renew()
            except Exception:  # a database blip: keep the lease until it would expire
                log.exception("could not renew the replicas lease")

    async def resign(self) -> None:
        if not self._always and self._held:
            await self._store.resign(REPLICAS_LEASE, owner=self._leases.owner)
