"""Token buckets with a clock the test moves by hand."""

from __future__ import annotations

from slipway.api.limits import ApiLimits
from slipway.api.ratelimit import TokenBuckets, identity
from slipway.services.resources import keys


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refuses_until_it_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = buckets.take("k")
    assert refused.retry_after == 1 and refused.remaining == 0
    clock.now += 0.5  # one token at 2/s
    assert buckets.take("k").allowed
    assert not buckets.take("k").allowed


def test_buckets_are_per_identity_and_report_the_time_to_full() -> None:
    buckets = TokenBuckets(rate=1.0, burst=10, clock=Clock())
    for _ in range(10):
        buckets.take("a")
    other = buckets.take("b")
    assert other.allowed and other.remaining == 9 and other.reset_seconds == 1
    assert buckets.take("a").reset_seconds == 10
    assert buckets.policy == "10;w=10"


def test_identity_is_the_key_hash_or_the_client_address() -> None:
    key = keys.generate_key()
    scope = {"headers": [(b"authorization", f"Bearer {key}".encode())], "client": ("1.2.3.4", 1)}
    ident = identity(scope)
    assert ident.startswith("key:") and key not in ident
    forged = {"headers": [(b"authorization", b"Bearer dor_sk_nope")], "client": ("1.2.3.4", 1)}
    assert identity(forged) == "addr:1.2.3.4"


def test_limits_come_from_the_environment() -> None:
    limits = ApiLimits.from_env({"SLIPWAY_RATE_LIMIT": "0.5", "SLIPWAY_RATE_BURST": "7"})
    assert limits.rate_per_second == 0.5 and limits.rate_burst == 7
    assert ApiLimits.from_env({}) == ApiLimits()
