"""The certificate loop, step by step, over a real store and real certificate files, with an
authority and a DNS that answer as each case needs: what state each outcome leaves, when the
domain is looked at again, and what the router is told (challenge while it is answered,
certificate and redirects once issued)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.tlscerts import ThrowawayCA
from tests.support.world import World

from slipway.certs.files import CertificateDir
from slipway.domain.domains import renew_at, retry_after
from slipway.domain.ids import new_id
from slipway.domain.models import Domain
from slipway.domain.routes import Route
from slipway.ports import CertificateError, IssuedCertificate
from slipway.services.platform import CertificateTools
from slipway.services.serving.certificates import CertificateLoop

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOST = "api.example.com"


@dataclass
class Dns:
    problem: str | None = None
    asked: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)

    async def points_here(
        self, hostname: str, *, cname_targets: list[str], addresses: list[str]
    ) -> str | None:
        self.asked.append((hostname, tuple(cname_targets), tuple(addresses)))
        return self.problem


@dataclass
class Authority:
    """Issues from a throwaway CA, valid `days`, after publishing a challenge; or fails."""

    world: World
    days: float = 90
    failure: CertificateError | None = None
    routes_during: list[Route] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    ca: ThrowawayCA = field(default_factory=ThrowawayCA.make)

    async def issue(
        self,
        hostname: str,
        *,
        publish: Callable[[str, str], Awaitable[None]],
        withdraw: Callable[[str], Awaitable[None]],
    ) -> IssuedCertificate:
        await publish("tok", "tok.answer")
        try:
            self.routes_during = list(self.world.router.routes[self.world.app.id])
            if self.failure is not None:
                raise self.failure
            chain, key, cert = self.ca.leaf(hostname, days=self.days)
            return IssuedCertificate(
                chain_pem=chain,
                key_pem=key,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                serial=f"{cert.serial_number:x}",
                issuer="Slipway test CA",
            )
        finally:
            await withdraw("tok")
            self.withdrawn.append("tok")


@dataclass
class Setup:
    world: World
    loop: CertificateLoop
    dns: Dns
    authority: Authority
    files: CertificateDir
    clock: list[datetime]

    async def add(self, hostname: str = HOST, **kw: object) -> Domain:
        domain = Domain(
            id=new_id("dom"),
            workspace_id=self.world.workspace.id,
            app_id=self.world.app.id,
            hostname=hostname,
            created_at=NOW,
            updated_at=NOW,
            next_attempt_at=self.clock[0],
        )
        domain = dataclasses.replace(domain, **kw)  # type: ignore[arg-type]
        await self.world.scoped.domains.create(domain)
        return domain

    async def get(self, hostname: str = HOST) -> Domain:
        found = await self.world.scoped.domains.get(self.world.app.id, hostname)
        assert found is not None
        return found

    def route(self, host: str = HOST) -> Route:
        return next(r for r in self.world.router.routes[self.world.app.id] if r.host == host)

    async def run_at(self, when: datetime) -> None:
        self.clock[0] = when
        await self.loop.pass_once()


@pytest.fixture
def setup(world: World, tmp_path: Path) -> Setup:
    clock = [NOW]
    dns, authority = Dns(), Authority(world)
    files = CertificateDir(tmp_path / "certs")
    world.platform.settings = dataclasses.replace(
        world.platform.settings, https_port=8443, public_addresses=("203.0.113.7",)
    )
    tools = CertificateTools(authority=authority, dns=dns, files=files)
    world.platform.certificates = tools
    loop = CertificateLoop(world.platform, tools, clock=lambda: clock[0])
    return Setup(world, loop, dns, authority, files, clock)


async def test_a_domain_whose_dns_does_not_point_here_waits_and_says_why(setup: Setup) -> None:
    setup.dns.problem = "api.example.com has no A, AAAA or CNAME record yet"
    await setup.add()
    await setup.run_at(NOW)
    d = await setup.get()
    assert (d.status, d.reason, d.attempts) == ("pendingDns", setup.dns.problem, 1)
    assert d.next_attempt_at == NOW + retry_after(1)
    assert setup.dns.asked == [(HOST, ("web.acme.localhost",), ("203.0.113.7",))]
    assert setup.authority.withdrawn == []  # no order before DNS points here
    await setup.run_at(NOW + timedelta(seconds=1))  # not due yet
    assert len(setup.dns.asked) == 1
    await setup.run_at(NOW + retry_after(1))
    assert (await setup.get()).attempts == 2


async def test_issued_the_challenge_is_routed_then_the_certificate(setup: Setup) -> None:
    await setup.add()
    await setup.run_at(NOW)
    assert [r.challenges for r in setup.authority.routes_during if r.host == HOST] == [
        (("tok", "tok.answer"),)
    ]
    d = await setup.get()
    assert (d.status, d.reason, d.attempts) == ("ready", None, 0)
    assert d.challenge_token is None and d.certificate_path is not None
    assert Path(d.certificate_path).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert d.not_before is not None and d.not_after is not None
    assert d.next_attempt_at == renew_at(d.not_before, d.not_after)
    route = setup.route()
    assert route.certificate == d.certificate_path
    assert route.challenges == ()
    assert route.https_only  # the app's httpsOnly, now that it has a certificate
    assert route.targets == setup.route("web.acme.localhost").targets  # the app's split


async def test_a_failed_challenge_fails_with_the_reason_and_waits_longer(setup: Setup) -> None:
    setup.authority.failure = CertificateError("The ACME server could not validate it: 404")
    await setup.add()
    await setup.run_at(NOW)
    d = await setup.get()
    assert (d.status, d.reason) == ("failed", "The ACME server could not validate it: 404")
    assert d.next_attempt_at == NOW + retry_after(4)  # refused: not asked again soon
    assert d.certificate_path is None and d.challenge_token is None
    assert setup.route().challenges == () and not setup.route().https_only

    setup.authority.failure = CertificateError("unreachable", retryable=True)
    await setup.run_at(d.next_attempt_at)
    d = await setup.get()
    assert (d.status, d.attempts) == ("failed", 2)
    assert d.next_attempt_at == setup.clock[0] + retry_after(2)


async def test_renewal_keeps_serving_and_a_failed_one_keeps_the_certificate(setup: Setup) -> None:
    await setup.add()
    await setup.run_at(NOW)
    first = await setup.get()
    assert first.next_attempt_at is not None
    setup.authority.failure = CertificateError("rate limited", retryable=True)
    await setup.run_at(first.next_attempt_at)
    d = await setup.get()
    assert (d.status, d.reason) == ("ready", "Renewal failed: rate limited")
    assert d.certificate_path == first.certificate_path  # still served
    assert setup.route().certificate == first.certificate_path
    assert len(setup.dns.asked) == 1  # a renewal does not wait on DNS

    setup.authority.failure = None
    await setup.run_at(d.next_attempt_at)  # type: ignore[arg-type]
    second = await setup.get()
    assert second.status == "ready" and second.reason is None
    assert second.certificate_path != first.certificate_path
    assert setup.route().certificate == second.certificate_path
    files = sorted(p.name for p in (setup.files.root / HOST).iterdir())
    assert len(files) == 2  # the one before stays until the next renewal
    await setup.run_at(second.next_attempt_at)  # type: ignore[arg-type]
    third = await setup.get()
    remaining = {str(p) for p in (setup.files.root / HOST).iterdir()}
    assert remaining == {second.certificate_path, third.certificate_path}


async def test_a_certificate_that_expired_while_renewal_failed_is_failed(setup: Setup) -> None:
    setup.authority.days = 1
    await setup.add()
    await setup.run_at(NOW)
    setup.authority.failure = CertificateError("unreachable", retryable=True)
    await setup.run_at(NOW + timedelta(days=2))
    d = await setup.get()
    assert (d.status, d.reason) == ("failed", "unreachable")


async def test_a_domain_deleted_while_it_was_issued_leaves_nothing(setup: Setup) -> None:
    domain = await setup.add()
    world = setup.world
    real_issue = setup.authority.issue

    async def issue_then_delete(hostname: str, **kw: object) -> IssuedCertificate:
        cert = await real_issue(hostname, **kw)  # type: ignore[arg-type]
        assert await world.scoped.domains.delete(world.app.id, domain.id)
        return cert

    setup.authority.issue = issue_then_delete  # type: ignore[method-assign]
    await setup.run_at(NOW)
    assert await world.scoped.domains.list(world.app.id) == []
    assert not (setup.files.root / HOST).exists()


async def test_a_domain_bound_to_a_tag_routes_to_it_and_checks_its_host(setup: Setup) -> None:
    from slipway.domain.models import TrafficSplit

    world = setup.world
    await world.revision()
    await world.traffic([TrafficSplit("web-00001", 100), TrafficSplit("web-00002", 0, "beta")])
    await setup.add("beta.example.com", tag="beta")
    await setup.run_at(NOW)
    assert setup.dns.asked[0][1] == ("beta---web.acme.localhost",)
    route = setup.route("beta.example.com")
    assert [t.revision for t in route.targets] == [world.key("web-00002")]


async def test_a_wildcard_is_ready_only_under_the_operators_certificate(setup: Setup) -> None:
    platform = setup.world.platform
    await setup.add("*.example.com")
    await setup.run_at(NOW)
    d = await setup.get("*.example.com")
    assert d.status == "failed" and "DNS-01" in (d.reason or "")
    assert d.next_attempt_at is None  # nothing to retry: the operator must act
    platform.settings = dataclasses.replace(platform.settings, tls_names=("*.example.com",))
    await setup.world.store.real.save_domain(dataclasses.replace(d, next_attempt_at=NOW))
    await setup.run_at(NOW)
    d = await setup.get("*.example.com")
    assert (d.status, d.reason) == ("ready", None)
    assert setup.route("*.example.com").https_only
    assert setup.authority.withdrawn == []


async def test_an_unexpected_error_postpones_the_domain_instead_of_looping(setup: Setup) -> None:
    async def broken(hostname: str, **kw: object) -> str | None:
        raise RuntimeError("a bug")

    setup.dns.points_here = broken  # type: ignore[method-assign,assignment]
    await setup.add()
    await setup.run_at(NOW)
    d = await setup.get()
    assert d.status == "pendingDns" and "internal error" in (d.reason or "")
    assert "a bug" not in (d.reason or "")
    assert d.next_attempt_at == NOW + retry_after(1)
