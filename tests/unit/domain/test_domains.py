"""Custom domains' rules: which hostnames are accepted (and how they are stored), when a
certificate is renewed, how retries back off, and what a certificate name covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slipway.domain.domains import (
    RETRY_STEPS,
    covers,
    dns_record,
    normalize_hostname,
    renew_at,
    retry_after,
)
from slipway.domain.errors import Invalid

BASE = "apps.example.net"


def check(value: str, *, wildcard: bool = False) -> str:
    return normalize_hostname(value, base_domain=BASE, allow_wildcard=wildcard)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("api.example.com", "api.example.com"),
        ("API.Example.COM.", "api.example.com"),
        ("  www.example.co.uk ", "www.example.co.uk"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("example.net", "example.net"),  # the base domain's parent is not the platform's
    ],
)
def test_accepted_hostnames_are_stored_lowercase_without_the_root_dot(
    given: str, stored: str
) -> None:
    assert check(given) == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "required"),
        ("localhost", "two labels"),
        ("203.0.113.7", "IP address"),
        ("2001:db8::1", "IP address"),
        ("[2001:db8::1]", "IP address"),
        ("bücher.example", "punycode"),
        ("-api.example.com", "DNS label"),
        ("api-.example.com", "DNS label"),
        ("a..example.com", "DNS label"),
        ("a_b.example.com", "DNS label"),
        ("api.example.com:443", "DNS label"),
        ("https://api.example.com", "DNS label"),
        ("x" * 64 + ".example.com", "DNS label"),
        (("a" * 60 + ".") * 5 + "com", "253"),
        ("api.example.123", "all digits"),
        ("my.app.localhost", ".localhost"),
        ("printer.local", ".local"),
        ("web.acme.apps.example.net", "platform's own"),
        ("apps.example.net", "platform's own"),
        ("*.example.com", "not allowed"),
        ("a.*.example.com", "wildcard"),
    ],
)
def test_refused_hostnames_say_which_rule_they_break(given: str, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        check(given)
    assert refused.value.errors[0].field == "hostname"
    assert says in refused.value.errors[0].message


def test_wildcards_when_the_operator_allows_them() -> None:
    assert check("*.Example.com", wildcard=True) == "*.example.com"
    for bad in ("*.com", "*.*.example.com", "*x.example.com", "*.apps.example.net"):
        with pytest.raises(Invalid):
            check(bad, wildcard=True)


def test_the_record_to_create_is_a_cname_to_the_platform_host() -> None:
    record = dns_record("api.example.com", "web.acme.apps.example.net")
    assert (record.type, record.name, record.value) == (
        "CNAME",
        "api.example.com",
        "web.acme.apps.example.net",
    )


def test_renewal_is_30_days_before_expiry_or_a_third_of_a_short_life() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert renew_at(start, start + timedelta(days=90)) == start + timedelta(days=60)
    assert renew_at(start, start + timedelta(days=6)) == start + timedelta(days=4)
    assert renew_at(start, start + timedelta(seconds=45)) == start + timedelta(seconds=30)
    assert renew_at(start, start + timedelta(days=365)) == start + timedelta(days=335)


def test_retries_back_off_to_hourly() -> None:
    assert retry_after(0) == retry_after(1) == timedelta(seconds=10)
    assert [retry_after(n) for n in range(1, len(RETRY_STEPS) + 1)] == list(RETRY_STEPS)
    assert retry_after(100) == timedelta(hours=1)
    assert list(RETRY_STEPS) == sorted(RETRY_STEPS)


def test_a_wildcard_name_covers_exactly_one_more_label() -> None:
    assert covers("*.acme.localhost", "web.acme.localhost")
    assert covers("*.acme.localhost", "tag---web.acme.localhost")
    assert not covers("*.acme.localhost", "a.web.acme.localhost")
    assert not covers("*.acme.localhost", "acme.localhost")
    assert not covers("*.acme.localhost", ".acme.localhost")
    assert covers("api.example.com", "api.example.com")
    assert not covers("api.example.com", "www.api.example.com")
