"""The router's deadlines and caps (issue 11): the edge faces every client on the internet.

Each is a setting (`SLIPWAY_ROUTER_*`, seconds or counts) with a default, and each event it
causes is counted in `EdgeStats`, exported as `slipway_router_edge_events_total{event}`:
- `head_seconds`: a request head must be complete this long after the connection opened or
  its first byte arrived, else 408 and close (`head_timeout`): slowloris.
- `idle_seconds`: a kept-alive connection with no request is closed (`idle_timeout`).
- `connect_seconds`: connecting to a replica (then 502, or another replica).
- `response_head_seconds`: a replica's response head must arrive this long after the request
  went to it, else 504 (`response_timeout`). Long polling works up to it; the body has no
  deadline.
- `max_connections` / `max_per_client`: connections open at once, in all and per client
  address; one more is answered 503 and closed (`rejected_global`, `rejected_per_client`).
- `max_head_bytes` / `max_headers`: a larger head is answered 431 (`head_too_large`), so a
  connection's memory is bounded by the head limit.
- `hold_seconds` / `max_held`: a request for a revision at zero waits this long at most for
  its replica, and this many wait per revision; past either, 503 with `Retry-After`
  (`activation.py`).
Deadlines are checked by one sweep a second over the open connections (a timer per request
would cost the hot path more than the whole check), so each fires within a second of its time.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class EdgeLimits:
    head_seconds: float = 10.0
    idle_seconds: float = 60.0
    connect_seconds: float = 5.0
    response_head_seconds: float = 60.0
    max_connections: int = 4096
    max_per_client: int = 256
    max_head_bytes: int = 65536
    max_headers: int = 100
    hold_seconds: float = 30.0
    max_held: int = 100

    @classmethod
    def from_env(cls) -> EdgeLimits:
        """`SLIPWAY_ROUTER_HEAD_SECONDS`, `SLIPWAY_ROUTER_MAX_CONNECTIONS`, ...: each field
        upper-cased; unset ones keep their default."""
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = os.environ.get(f"SLIPWAY_ROUTER_{f.name.upper()}")
            if raw:
                values[f.name] = float(raw) if f.type == "float" else int(raw)
        return cls(**values)  # type: ignore[arg-type]


EdgeStats = Counter[str]  # event -> count
