"""The certificate loop (issue 16): moves each custom domain through its states.

    pendingDns --DNS points here--> issuing --ACME order valid--> ready --30 days left--> (renew)
        ^  \\__ no/wrong record: retry with backoff        \\__ challenge failed --> failed
        |__________________________________________________________________________/ (retry)

It runs in the process that owns the replicas (one per platform), every second and at once
when a domain is added here, on the domains whose `next_attempt_at` has come:
- **pendingDns / failed without a certificate**: the DNS check (`DnsCheck`): a CNAME to the
  app's (or tag's) host, or A/AAAA records among the platform's public addresses. Not yet:
  `pendingDns` with what DNS answered, looked at again after `retry_after(attempts)`.
- **issuing**: an ACME order (`CertificateAuthority`); its HTTP-01 answer is put on the
  domain's route (stored, so every router process serves it) before the challenge is
  answered, and removed after. Success: the certificate file is written, the domain is
  `ready` until `renew_at`, the route serves it, and HTTP redirects (the app's httpsOnly).
  Failure: `failed` with the authority's reason; retried later (slower when the authority
  refused, rather than being unreachable), from the DNS check again.
- **ready, renewal due**: a new order while the old certificate keeps serving; a failure keeps
  `ready` with the reason, and retries, until the certificate expires (then `failed`).
A wildcard domain cannot be validated over HTTP-01: it is `ready` when the operator's own
certificate covers it, `failed` saying so otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from slipway.domain.domains import renew_at, retry_after
from slipway.domain.models import App, Domain, DomainStatus, Workspace, utcnow
from slipway.domain.routes import app_host, tag_host
from slipway.ports import CertificateError
from slipway.services.platform import CertificateTools, Platform
from slipway.services.platform.events import event
from slipway.services.serving.reconcile import load_app, routes_changed

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
AT_ONCE = 4  # domains worked on at the same time
# Another router process serves a stored challenge after its NOTIFY; give it this long.
PUBLISH_MARGIN_SECONDS = 0.5


class CertificateLoop:
    def __init__(
        self,
        platform: Platform,
        tools: CertificateTools,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.platform = platform
        self.tools = tools
        self.clock = clock
        self._busy: set[str] = set()  # domain ids being worked on

    async def run(self) -> None:
        """Until cancelled: a pass every second (or at once when a domain is added here),
        in the process that owns the replicas."""
        changed = self.platform.domains_changed
        while True:
            if self.platform.owns_replicas():
                try:
                    await self.pass_once()
                except Exception:  # the next pass tries again
                    log.exception("the certificate loop failed")
            changed.clear()
            try:
                async with asyncio.timeout(TICK_SECONDS):
                    await changed.wait()
            except TimeoutError:
                pass

    async def pass_once(self) -> None:
        due = [
            d for d in await self.platform.store.domains_due(self.clock()) if d.id not in self._busy
        ]
        limit = asyncio.Semaphore(AT_ONCE)

        async def one(domain: Domain) -> None:
            async with limit:
                self._busy.add(domain.id)
                try:
                    await self.step(domain)
                except Exception:  # a bug or a broken store: not again at once, and say so
                    log.exception("certificate work on %s failed", domain.hostname)
                    await self._postpone(domain)
                finally:
                    self._busy.discard(domain.id)

        await asyncio.gather(*(one(d) for d in due))

    async def step(self, domain: Domain) -> None:
        found = await load_app(self.platform, domain.workspace_id, domain.app_id)
        if found is None:
            return  # the app went (its domains with it)
        workspace, app = found
        if domain.hostname.startswith("*."):
            await self._wildcard(workspace, app, domain)
            return
        renewing = domain.certificate_path is not None
        if not renewing:
            problem = await self.tools.dns.points_here(
                domain.hostname,
                cname_targets=self._cname_targets(workspace, app, domain),
                addresses=self.platform.settings.public_addresses,
            )
            if problem is not None:
                attempts = domain.attempts + 1
                await self._save(
                    workspace,
                    app,
                    replace(
                        domain,
                        status="pendingDns",
                        reason=problem,
                        attempts=attempts,
                        next_attempt_at=self.clock() + retry_after(attempts),
                    ),
                    routes=False,
                )
                return
            domain = replace(domain, status="issuing", reason=None)
            if not await self._save(workspace, app, domain, routes=False):
                return
        await self._issue(workspace, app, domain)

    async def _issue(self, workspace: Workspace, app: App, domain: Domain) -> None:
        current = domain

        async def publish(token: str, answer: str) -> None:
            nonlocal current
            current = replace(current, challenge_token=token, challenge_answer=answer)
            await self._save(workspace, app, current, routes=True)
            if not self.platform.store.single_process:
                await asyncio.sleep(PUBLISH_MARGIN_SECONDS)

        async def withdraw(token: str) -> None:
            nonlocal current
            current = replace(current, challenge_token=None, challenge_answer=None)
            await self._save(workspace, app, current, routes=True)

        files = self.tools.files
        try:
            cert = await self.tools.authority.issue(
                domain.hostname, publish=publish, withdraw=withdraw
            )
        except CertificateError as exc:
            await self._failed(workspace, app, current, exc)
            return
        files.prune(domain.hostname, keep=domain.certificate_path)  # keep the serving one
        path = files.save(domain.hostname, cert)
        ready = replace(
            current,
            status="ready",
            reason=None,
            attempts=0,
            certificate_path=path,
            not_before=cert.not_before,
            not_after=cert.not_after,
            serial=cert.serial,
            issuer=cert.issuer,
            next_attempt_at=renew_at(cert.not_before, cert.not_after),
        )
        if not await self._save(workspace, app, ready, routes=True):
            files.prune(domain.hostname, keep=None)  # deleted meanwhile
            return
        renewed = domain.certificate_path is not None
        event(
            "certificate",
            f"certificate for {domain.hostname} ({workspace.name}/{app.name}) "
            f"{'renewed' if renewed else 'issued'}, valid until {cert.not_after:%Y-%m-%d %H:%M}Z",
            status="renewed" if renewed else "issued",
            workspace=workspace.name,
            app=app.name,
            hostname=domain.hostname,
            not_after=cert.not_after.isoformat(),
        )

    async def _failed(
        self, workspace: Workspace, app: App, domain: Domain, exc: CertificateError
    ) -> None:
        attempts = domain.attempts + 1
        # An authority that refused (a failed challenge) is not asked again soon: its
        # failed-validation limits are per hour.
        wait = retry_after(attempts if exc.retryable else attempts + 3)
        now = self.clock()
        still_valid = domain.not_after is not None and domain.not_after > now
        status: DomainStatus
        if domain.certificate_path is not None and still_valid:
            status, reason = "ready", f"Renewal failed: {exc.reason}"
        else:
            status, reason = "failed", exc.reason
        await self._save(
            workspace,
            app,
            replace(
                domain,
                status=status,
                reason=reason,
                attempts=attempts,
                next_attempt_at=now + wait,
                challenge_token=None,
                challenge_answer=None,
            ),
            routes=True,
        )
        event(
            "certificate",
            f"certificate for {domain.hostname} ({workspace.name}/{app.name}) not issued: "
            f"{exc.reason} (again in {int(wait.total_seconds())} s)",
            status="failed",
            workspace=workspace.name,
            app=app.name,
            hostname=domain.hostname,
            reason=exc.reason,
            retry_in_seconds=int(wait.total_seconds()),
        )

    async def _postpone(self, domain: Domain) -> None:
        attempts = domain.attempts + 1
        with contextlib.suppress(Exception):  # the store itself may be what failed
            await self.platform.store.save_domain(
                replace(
                    domain,
                    status="failed" if domain.status == "issuing" else domain.status,
                    reason="Slipway could not work on this domain's certificate (an internal "
                    "error, in the platform's log); it tries again later.",
                    attempts=attempts,
                    next_attempt_at=self.clock() + retry_after(attempts),
                    challenge_token=None,
                    challenge_answer=None,
                    updated_at=utcnow(),
                )
            )

    async def _wildcard(self, workspace: Workspace, app: App, domain: Domain) -> None:
        status: DomainStatus
        if self.platform.settings.default_certificate_covers(domain.hostname):
            status, reason = "ready", None
        else:
            status, reason = (
                "failed",
                (
                    "A wildcard certificate needs a DNS-01 challenge, which Slipway does not "
                    "answer: the operator's certificate (--tls-cert) must cover "
                    f"{domain.hostname}."
                ),
            )
        await self._save(
            workspace,
            app,
            replace(domain, status=status, reason=reason, next_attempt_at=None),
            routes=True,
        )

    def _cname_targets(self, workspace: Workspace, app: App, domain: Domain) -> list[str]:
        base = self.platform.settings.base_domain
        if domain.tag is not None:
            return [tag_host(domain.tag, app.name, workspace.name, base)]
        return [app_host(app.name, workspace.name, base)]

    async def _save(self, workspace: Workspace, app: App, domain: Domain, *, routes: bool) -> bool:
        """Store the domain's new state (False: it was deleted meanwhile); with `routes`, its
        route changes too (certificate, challenge): pushed here, and asked of the others."""
        if not await self.platform.store.save_domain(replace(domain, updated_at=utcnow())):
            return False
        if routes:
            await routes_changed(self.platform, workspace, app)
        return True
