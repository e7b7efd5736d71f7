"""Custom domains: which hostnames a user may bind to an app, the DNS record that points one
at the platform, and when its certificate is due (issue, retry, renew).

A hostname is a DNS name of at least two labels, in its ASCII (punycode) form, that is not
an IP address, not under the platform's own base domain (those names are the platform's to
hand out) and not a wildcard unless the operator allows wildcards. It belongs to one app in
the whole platform (the store's unique index; 409).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from slipway.domain.errors import Invalid

MAX_HOSTNAME = 253
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_RESERVED_SUFFIXES = ("localhost", "local", "invalid", "arpa")

# Renewal: 30 days before expiry, or a third of the certificate's life before it for short
# certificates (Let's Encrypt's advice for its 6-day and 45-day ones), whichever is sooner.
RENEW_BEFORE = timedelta(days=30)
# Retries after a failure, by attempt: quick at first (a DNS record just created takes a
# minute or two to be seen), then backing off to hourly.
RETRY_STEPS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)


def normalize_hostname(value: str, *, base_domain: str, allow_wildcard: bool) -> str:
    """The hostname as stored (lowercase, no trailing dot), or `Invalid` on field
    `hostname` saying which rule it breaks."""
    name = value.strip().lower().removesuffix(".")

    def refuse(message: str) -> Invalid:
        return Invalid.field("hostname", message)

    if not name:
        raise refuse("hostname is required")
    if not name.isascii():
        raise refuse("use the hostname's ASCII form (punycode, xn--...)")
    if len(name) > MAX_HOSTNAME:
        raise refuse(f"a hostname has at most {MAX_HOSTNAME} characters")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise refuse("an IP address cannot have a certificate here: use a DNS name")
    labels = name.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        if not allow_wildcard:
            raise refuse("wildcard hostnames are not allowed on this platform")
        labels = labels[1:]
    if "*" in ".".join(labels):
        raise refuse("a wildcard may only be the whole first label (*.example.com)")
    if len(labels) < 2:
        raise refuse("a hostname needs at least two labels (api.example.com)")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise refuse(
                f"{label!r} is not a DNS label: letters, digits and inner hyphens, "
                "at most 63 characters"
            )
    if labels[-1].isdigit():
        raise refuse("the last label of a hostname cannot be all digits")
    if labels[-1] in _RESERVED_SUFFIXES:
        raise refuse(f"names under .{labels[-1]} cannot get a public certificate")
    base = base_domain.lower().removesuffix(".")
    rest = ".".join(labels)
    if base and (rest == base or rest.endswith("." + base)):
        raise refuse(f"names under {base} are the platform's own: every app has one already")
    return name


@dataclass(frozen=True)
class DnsRecord:
    """The record the user creates at their DNS provider."""

    type: str
    name: str
    value: str


def dns_record(hostname: str, target_host: str) -> DnsRecord:
    """A CNAME to the app's (or the tag's) platform host, which already reaches the router."""
    return DnsRecord(type="CNAME", name=hostname, value=target_host)


def renew_at(not_before: datetime, not_after: datetime) -> datetime:
    """When a certificate valid from `not_before` to `not_after` is renewed."""
    third = (not_after - not_before) / 3
    return not_after - min(RENEW_BEFORE, third)


def days_left(not_after: datetime, now: datetime) -> float:
    """Days until a certificate valid until `not_after` expires (negative once it has)."""
    return (not_after - now) / timedelta(days=1)


def retry_after(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure in a row (1 = the first)."""
    return RETRY_STEPS[min(max(attempts, 1), len(RETRY_STEPS)) - 1]


def covers(pattern: str, hostname: str) -> bool:
    """Whether a certificate name (`*.example.com` or a plain name) covers `hostname`: a
    wildcard covers exactly one more label."""
    if pattern.startswith("*."):
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == hostname
