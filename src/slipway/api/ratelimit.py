"""Rate limiting per API key: one token bucket per key, in this process.

Each key's bucket holds up to `burst` tokens and refills at `rate` tokens per second; a
request takes one. An empty bucket answers 429 with `Retry-After` (whole seconds until the
next token). Every answer under the API carries the IETF draft's `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket is full again) and
`RateLimit-Policy`.

The bucket is chosen by the bearer token's sha256, before any database lookup, so a flood of
requests costs no query. Requests without a well-formed key share one bucket per client
address, which also slows down key guessing. Buckets live in a bounded LRU map: a bucket
that is evicted was idle long enough to be full anyway.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.api.problems import problem
from slipway.services.resources import keys

MAX_BUCKETS = 100_000


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # until one token is there (0 when allowed)


class TokenBuckets:
    """Token buckets by identity, with an injectable clock for tests."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    @property
    def policy(self) -> str:
        """`RateLimit-Policy`: the quota and the window in which it refills completely."""
        return f"{self.burst};w={math.ceil(self.burst / self.rate)}"

    def take(self, identity: str) -> Decision:
        now = self._clock()
        bucket = self._buckets.pop(identity, None) or Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        self._buckets[identity] = bucket
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        missing = self.burst - bucket.tokens
        return Decision(
            allowed=allowed,
            remaining=int(bucket.tokens),
            reset_seconds=math.ceil(missing / self.rate),
            retry_after=0 if allowed else max(1, math.ceil((1.0 - bucket.tokens) / self.rate)),
        )


def identity(scope: Scope) -> str:
    """`key:<sha256>` for a well-formed bearer key, else `addr:<client host>`."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            token = keys.bearer_token(value.decode("latin-1"))
            if token is not None and keys.is_well_formed(token):
                return "key:" + hashlib.sha256(token.encode()).hexdigest()
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimit:
    """ASGI middleware over every HTTP request whose path starts with `prefix`."""

    def __init__(self, app: ASGIApp, *, buckets: TokenBuckets, prefix: str) -> None:
        self.app = app
        self.buckets = buckets
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        decision = self.buckets.take(identity(scope))
        headers = {
            "RateLimit-Limit": str(self.buckets.burst),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(decision.reset_seconds),
            "RateLimit-Policy": self.buckets.policy,
        }
        if not decision.allowed:
            headers["Retry-After"] = str(decision.retry_after)
            detail = f"Too many requests; try again in {decision.retry_after} s."
            await problem(429, detail, headers=headers)(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await self.app(scope, receive, with_headers)
