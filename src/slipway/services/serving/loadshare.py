"""Every router's load reaches the autoscaler (several processes on PostgreSQL).

The autoscaler runs in the replica owner and reads its own router's counters
(`Router.load`); requests that other router processes serve would be invisible to it, and an
app served only through them would be scaled down, or to zero, under load. So every process
with the router role sends its counters twice a second on `LOAD_CHANNEL` (NOTIFY; payload
`{"from": process, "load": {revision key: [concurrency-seconds, requests]}}`, only the
revisions whose counters moved, in chunks under NOTIFY's 8000 bytes), and the processes that
may autoscale keep the latest of each sender in `platform.remote_loads`. A lost message only
delays a reading (the counters only grow); a sender not heard from for `FORGET_SECONDS` is
dropped. The owner's own messages are ignored (it reads its router directly).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from slipway.services.platform import Platform

log = logging.getLogger(__name__)

LOAD_CHANNEL = "slipway_load"
SEND_SECONDS = 0.5
FORGET_SECONDS = 60.0
MAX_PAYLOAD = 7000  # NOTIFY takes under 8000 bytes


def chunks(sender: str, load: dict[str, tuple[float, int]]) -> list[str]:
    """Payloads for `load`, each under MAX_PAYLOAD bytes."""
    out: list[str] = []
    part: dict[str, list[float | int]] = {}
    size = 0
    for key, (busy, requests) in load.items():
        entry = len(key) + 48
        if part and size + entry > MAX_PAYLOAD:
            out.append(json.dumps({"from": sender, "load": part}))
            part, size = {}, 0
        part[key] = [round(busy, 6), requests]
        size += entry
    if part:
        out.append(json.dumps({"from": sender, "load": part}))
    return out


async def send_loads(platform: Platform) -> None:
    """This process's router counters, to the autoscaler, until cancelled."""
    sent: dict[str, tuple[float, int]] = {}
    sender = platform.leases.owner
    while True:
        await asyncio.sleep(SEND_SECONDS)
        try:
            now = platform.router.load()
            moved = {k: v for k, v in now.items() if sent.get(k) != v}
            for payload in chunks(sender, moved):
                await platform.store.notify(LOAD_CHANNEL, payload)
            sent = now
        except Exception:  # the next round sends the counters again
            log.exception("could not send the router's load")


def received(platform: Platform, payload: str) -> None:
    """A NOTIFY on LOAD_CHANNEL: keep the sender's counters (not our own)."""
    try:
        message = json.loads(payload)
        sender = str(message["from"])
        load = {str(k): (float(v[0]), int(v[1])) for k, v in message["load"].items()}
    except (ValueError, KeyError, TypeError, IndexError):
        return
    if sender == platform.leases.owner:
        return
    now = time.monotonic()
    remote = platform.remote_loads
    counters, _ = remote.get(sender, ({}, now))
    counters.update(load)  # only the revisions that moved were sent
    remote[sender] = (counters, now)
    for gone in [s for s, (_, at) in remote.items() if now - at > FORGET_SECONDS]:
        del remote[gone]
