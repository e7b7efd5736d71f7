"""Does a custom hostname reach this platform yet? Asked before ordering a certificate, so
that a user who has not created the DNS record hears what DNS answers (no record, another
address, a CNAME elsewhere) instead of an ACME validation failure, which also counts
against the authority's rate limits.

A CNAME to one of the platform's names passes; otherwise every A and AAAA record (after
any CNAMEs) must be one of the platform's addresses. Without addresses an A record proves
nothing (the platform does not know its public address), so only a CNAME passes. Nothing is
cached: the user fixes the record and asks again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdata
import dns.resolver

LIFETIME_SECONDS = 3.0


class _ResolverFailed(Exception):
    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class ResolverDnsCheck:
    """`DnsCheck` through `nameservers` ("ip" or "ip:port", "[v6]:port"), or the system's
    resolver configuration when there are none."""

    def __init__(
        self, nameservers: Sequence[str] = (), *, lifetime: float = LIFETIME_SECONDS
    ) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [_nameserver(spec) for spec in nameservers]
        self._resolver.timeout = lifetime
        self._resolver.lifetime = lifetime

    async def points_here(
        self, hostname: str, *, cname_targets: Sequence[str], addresses: Sequence[str]
    ) -> str | None:
        name = _bare(hostname)
        try:
            cname = await self._cname(name)
            if cname is not None and cname in {_bare(t) for t in cname_targets}:
                return None
            found = await self._addresses(name, "A") + await self._addresses(name, "AAAA")
        except _ResolverFailed as failed:
            return failed.sentence
        ours = {_normal_address(a) for a in addresses}
        if found and ours and all(_normal_address(a) in ours for a in found):
            return None
        return _explain(hostname, cname, found, cname_targets, addresses)

    async def _cname(self, name: str) -> str | None:
        answer = await self._resolve(name, "CNAME")
        return _bare(answer[0].to_text()) if answer else None

    async def _addresses(self, name: str, rdtype: str) -> list[str]:
        return [record.to_text() for record in await self._resolve(name, rdtype)]

    async def _resolve(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        """The records, [] when there are none (or no such name); `_ResolverFailed` when
        the resolver cannot tell."""
        try:
            answer = await self._resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.Timeout:
            raise _ResolverFailed(f"the DNS resolver did not answer for {name}") from None
        except dns.resolver.NoNameservers:
            raise _ResolverFailed(
                f"the DNS resolver answered for {name} with an error (SERVFAIL or REFUSED)"
            ) from None
        except dns.exception.DNSException as error:
            raise _ResolverFailed(f"the DNS lookup of {name} failed: {error}") from None
        # `rrset` is the asked type's records at the end of any CNAME chain (or None).
        return list(answer.rrset or ())


def _explain(
    hostname: str,
    cname: str | None,
    found: Sequence[str],
    cname_targets: Sequence[str],
    addresses: Sequence[str],
) -> str:
    if cname is not None and cname_targets:
        return f"{hostname} is a CNAME to {cname}, not to {' or '.join(cname_targets)}"
    if not found:
        if cname is not None:
            return f"{hostname} is a CNAME to {cname}, which has no A or AAAA record"
        return f"{hostname} has no A, AAAA or CNAME record yet: {_advice(cname_targets, addresses)}"
    via = f" (a CNAME to {cname})" if cname is not None else ""
    if not addresses:
        return (
            f"{hostname}{via} resolves to {', '.join(found)}, but this platform has no fixed "
            f"address to compare: {_advice(cname_targets, addresses)}"
        )
    return (
        f"{hostname}{via} resolves to {', '.join(found)}, "
        f"not to this platform ({', '.join(addresses)})"
    )


def _advice(cname_targets: Sequence[str], addresses: Sequence[str]) -> str:
    if cname_targets:
        return f"create a CNAME record to {cname_targets[0]}"
    if addresses:
        return f"create an A or AAAA record to {', '.join(addresses)}"
    return "this platform has neither a CNAME target nor an address configured"


def _nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    if spec.startswith("["):  # [2001:db8::1]:5353
        host, _, port = spec[1:].partition("]:")
        return dns.nameserver.Do53Nameserver(host, int(port or 53))
    if spec.count(":") == 1:  # 127.0.0.1:8053 (a bare IPv6 address has several)
        host, port = spec.split(":")
        return dns.nameserver.Do53Nameserver(host, int(port))
    return dns.nameserver.Do53Nameserver(spec)


def _bare(name: str) -> str:
    return name.rstrip(".").lower()


def _normal_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address
